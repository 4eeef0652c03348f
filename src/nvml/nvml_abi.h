/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nvml_abi.h — the part of NVML's C ABI that kerf uses, declared by kerf itself.
 *
 * kerf never includes NVIDIA's nvml.h: it loads libnvidia-ml.so.1 with dlopen and calls the versioned
 * symbols through pointers of the types below. Types, constant values and struct layouts are facts taken
 * from nvml.h as published in NVIDIA/go-nvml (NVML 13.3.29, NVML_API_VERSION 13); the _Static_asserts at the
 * end pin the sizes and offsets that header gives on x86-64 and aarch64 (LP64), so a mistake here fails
 * the build instead of corrupting memory at run time. The simulated library (tests/fakenvml/) exports these
 * same symbols from these same declarations.
 *
 * Symbols are named with their version suffix (nvmlInit_v2, ..._v2, ..._v3): the unsuffixed exported
 * names are the older ABIs that nvml.h maps away from, so dlsym must ask for the suffixed ones.
 */
#ifndef KERF_NVML_ABI_H
#define KERF_NVML_ABI_H

#include <stddef.h>

typedef enum nvmlReturn_enum {
	NVML_SUCCESS = 0,
	NVML_ERROR_UNINITIALIZED = 1,
	NVML_ERROR_INVALID_ARGUMENT = 2,
	NVML_ERROR_NOT_SUPPORTED = 3,
	NVML_ERROR_NO_PERMISSION = 4,
	NVML_ERROR_ALREADY_INITIALIZED = 5,
	NVML_ERROR_NOT_FOUND = 6,
	NVML_ERROR_INSUFFICIENT_SIZE = 7,
	NVML_ERROR_INSUFFICIENT_POWER = 8,
	NVML_ERROR_DRIVER_NOT_LOADED = 9,
	NVML_ERROR_TIMEOUT = 10,
	NVML_ERROR_IRQ_ISSUE = 11,
	NVML_ERROR_LIBRARY_NOT_FOUND = 12,
	NVML_ERROR_FUNCTION_NOT_FOUND = 13,
	NVML_ERROR_CORRUPTED_INFOROM = 14,
	NVML_ERROR_GPU_IS_LOST = 15,
	NVML_ERROR_RESET_REQUIRED = 16,
	NVML_ERROR_OPERATING_SYSTEM = 17,
	NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
	NVML_ERROR_IN_USE = 19,
	NVML_ERROR_MEMORY = 20,
	NVML_ERROR_NO_DATA = 21,
	NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22,
	NVML_ERROR_INSUFFICIENT_RESOURCES = 23,
	NVML_ERROR_FREQ_NOT_SUPPORTED = 24,
	NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
	NVML_ERROR_DEPRECATED = 26,
	NVML_ERROR_NOT_READY = 27,
	NVML_ERROR_GPU_NOT_FOUND = 28,
	NVML_ERROR_INVALID_STATE = 29,
	NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30,
	NVML_ERROR_UNKNOWN = 999,
} nvmlReturn_t;

#define NVML_DEVICE_MIG_DISABLE 0x0
#define NVML_DEVICE_MIG_ENABLE 0x1

/* GPU-instance profile *indices* (only for nvmlDeviceGetGpuInstanceProfileInfoV); every other call takes the
 * profile *ID* (info.id). The count grew 0xA -> 0xD -> 0x11 -> 0x12 across headers, so kerf walks indices
 * until NVML says INVALID_ARGUMENT instead of trusting any count. */
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE 0x0
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE 0x1
#define NVML_GPU_INSTANCE_PROFILE_3_SLICE 0x2
#define NVML_GPU_INSTANCE_PROFILE_4_SLICE 0x3
#define NVML_GPU_INSTANCE_PROFILE_7_SLICE 0x4
#define NVML_GPU_INSTANCE_PROFILE_8_SLICE 0x5
#define NVML_GPU_INSTANCE_PROFILE_6_SLICE 0x6
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1 0x7 /* "+me" */
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1 0x8 /* "+me" */
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2 0x9 /* 1 slice, twice the memory */
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX 0xA
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX 0xB
#define NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX 0xC
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME 0xD
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME 0xE
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME 0xF
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME 0x10
#define NVML_GPU_INSTANCE_PROFILE_3_SLICE_GFX 0x11

#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE 0x0
#define NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE 0x1
#define NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE 0x2
#define NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE 0x3
#define NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE 0x4
#define NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE 0x5
#define NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE 0x6
#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1 0x7
#define NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED 0x0

#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlGpuInstance_st *nvmlGpuInstance_t;
typedef struct nvmlComputeInstance_st *nvmlComputeInstance_t;

typedef struct nvmlGpuInstancePlacement_st {
	unsigned int start; /* first occupied memory slice */
	unsigned int size;  /* memory slices occupied */
} nvmlGpuInstancePlacement_t;

typedef struct nvmlGpuInstanceProfileInfo_v2_st {
	unsigned int version; /* NVML_STRUCT_VERSION(GpuInstanceProfileInfo, 2) */
	unsigned int id;
	unsigned int isP2pSupported;
	unsigned int sliceCount;
	unsigned int instanceCount;
	unsigned int multiprocessorCount;
	unsigned int copyEngineCount;
	unsigned int decoderCount;
	unsigned int encoderCount;
	unsigned int jpegCount;
	unsigned int ofaCount;
	unsigned long long memorySizeMB;
	char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE]; /* "MIG 1g.10gb" */
} nvmlGpuInstanceProfileInfo_v2_t;

typedef struct nvmlGpuInstanceInfo_st {
	nvmlDevice_t device;
	unsigned int id;
	unsigned int profileId; /* the profile ID, not the index */
	nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;

typedef struct nvmlComputeInstancePlacement_st {
	unsigned int start; /* first compute slice, within the GPU instance */
	unsigned int size;
} nvmlComputeInstancePlacement_t;

typedef struct nvmlComputeInstanceProfileInfo_v2_st {
	unsigned int version; /* NVML_STRUCT_VERSION(ComputeInstanceProfileInfo, 2) */
	unsigned int id;
	unsigned int sliceCount;
	unsigned int instanceCount;
	unsigned int multiprocessorCount;
	unsigned int sharedCopyEngineCount;
	unsigned int sharedDecoderCount;
	unsigned int sharedEncoderCount;
	unsigned int sharedJpegCount;
	unsigned int sharedOfaCount;
	char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
} nvmlComputeInstanceProfileInfo_v2_t;

typedef struct nvmlComputeInstanceInfo_st {
	nvmlDevice_t device;
	nvmlGpuInstance_t gpuInstance;
	unsigned int id;
	unsigned int profileId;
	nvmlComputeInstancePlacement_t placement;
} nvmlComputeInstanceInfo_t;

typedef struct nvmlMemory_st {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlProcessInfo_v2_st {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId;     /* 0xFFFFFFFF outside MIG */
	unsigned int computeInstanceId; /* 0xFFFFFFFF outside MIG */
} nvmlProcessInfo_t;

/* nvml.h: NVML_STRUCT_VERSION(data, ver) = sizeof(struct) | ver << 24. */
#define KERF_NVML_STRUCT_VERSION(type, ver) ((unsigned int)(sizeof(type) | ((unsigned)(ver) << 24U)))
#define KERF_NVML_GI_PROFILE_INFO_V2 KERF_NVML_STRUCT_VERSION(nvmlGpuInstanceProfileInfo_v2_t, 2)
#define KERF_NVML_CI_PROFILE_INFO_V2 KERF_NVML_STRUCT_VERSION(nvmlComputeInstanceProfileInfo_v2_t, 2)

/* Sizes and offsets from the 13.3.29 header compiled for x86-64 (see the fact sheet, section 2.4). */
_Static_assert(sizeof(nvmlReturn_t) == 4, "nvmlReturn_t is a 4-byte enum");
_Static_assert(sizeof(nvmlGpuInstancePlacement_t) == 8, "nvmlGpuInstancePlacement_t size");
_Static_assert(sizeof(nvmlGpuInstanceProfileInfo_v2_t) == 152, "nvmlGpuInstanceProfileInfo_v2_t size");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v2_t, memorySizeMB) == 48, "ProfileInfo_v2.memorySizeMB");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v2_t, name) == 56, "ProfileInfo_v2.name");
_Static_assert(KERF_NVML_GI_PROFILE_INFO_V2 == 0x02000098u, "nvmlGpuInstanceProfileInfo_v2 version word");
_Static_assert(sizeof(nvmlGpuInstanceInfo_t) == 24, "nvmlGpuInstanceInfo_t size");
_Static_assert(offsetof(nvmlGpuInstanceInfo_t, id) == 8, "GpuInstanceInfo.id");
_Static_assert(offsetof(nvmlGpuInstanceInfo_t, profileId) == 12, "GpuInstanceInfo.profileId");
_Static_assert(offsetof(nvmlGpuInstanceInfo_t, placement) == 16, "GpuInstanceInfo.placement");
_Static_assert(sizeof(nvmlComputeInstancePlacement_t) == 8, "nvmlComputeInstancePlacement_t size");
_Static_assert(sizeof(nvmlComputeInstanceProfileInfo_v2_t) == 136, "nvmlComputeInstanceProfileInfo_v2_t size");
_Static_assert(KERF_NVML_CI_PROFILE_INFO_V2 == 0x02000088u, "nvmlComputeInstanceProfileInfo_v2 version word");
_Static_assert(sizeof(nvmlComputeInstanceInfo_t) == 32, "nvmlComputeInstanceInfo_t size");
_Static_assert(offsetof(nvmlComputeInstanceInfo_t, gpuInstance) == 8, "ComputeInstanceInfo.gpuInstance");
_Static_assert(offsetof(nvmlComputeInstanceInfo_t, id) == 16, "ComputeInstanceInfo.id");
_Static_assert(offsetof(nvmlComputeInstanceInfo_t, profileId) == 20, "ComputeInstanceInfo.profileId");
_Static_assert(offsetof(nvmlComputeInstanceInfo_t, placement) == 24, "ComputeInstanceInfo.placement");
_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t size");
_Static_assert(sizeof(nvmlProcessInfo_t) == 24, "nvmlProcessInfo_v2_t size");
_Static_assert(offsetof(nvmlProcessInfo_t, usedGpuMemory) == 8, "ProcessInfo_v2.usedGpuMemory");
_Static_assert(offsetof(nvmlProcessInfo_t, gpuInstanceId) == 16, "ProcessInfo_v2.gpuInstanceId");
_Static_assert(offsetof(nvmlProcessInfo_t, computeInstanceId) == 20, "ProcessInfo_v2.computeInstanceId");

/*
 * Every symbol kerf resolves, with its exact prototype. X(symbol, return type, parameter list) is expanded
 * by the backend into function-pointer members and dlsym calls, and by the simulated library into
 * prototypes of what it must export: one list, so the two can never disagree.
 */
#define KERF_NVML_SYMBOLS(X)                                                                                   \
	X(nvmlInit_v2, nvmlReturn_t, (void))                                                                       \
	X(nvmlShutdown, nvmlReturn_t, (void))                                                                      \
	X(nvmlErrorString, const char *, (nvmlReturn_t result))                                                    \
	X(nvmlDeviceGetCount_v2, nvmlReturn_t, (unsigned int *deviceCount))                                        \
	X(nvmlDeviceGetHandleByIndex_v2, nvmlReturn_t, (unsigned int index, nvmlDevice_t *device))                 \
	X(nvmlDeviceGetName, nvmlReturn_t, (nvmlDevice_t device, char *name, unsigned int length))                 \
	X(nvmlDeviceGetUUID, nvmlReturn_t, (nvmlDevice_t device, char *uuid, unsigned int length))                 \
	X(nvmlDeviceGetMemoryInfo, nvmlReturn_t, (nvmlDevice_t device, nvmlMemory_t *memory))                      \
	X(nvmlDeviceGetMinorNumber, nvmlReturn_t, (nvmlDevice_t device, unsigned int *minorNumber))                \
	X(nvmlDeviceGetMigMode, nvmlReturn_t, (nvmlDevice_t device, unsigned int *currentMode,                     \
					       unsigned int *pendingMode))                                         \
	X(nvmlDeviceGetGpuInstanceProfileInfoV, nvmlReturn_t, (nvmlDevice_t device, unsigned int profile,          \
							       nvmlGpuInstanceProfileInfo_v2_t *info))             \
	X(nvmlDeviceGetGpuInstancePossiblePlacements_v2, nvmlReturn_t,                                             \
	  (nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t *placements,                    \
	   unsigned int *count))                                                                                   \
	X(nvmlDeviceCreateGpuInstanceWithPlacement, nvmlReturn_t,                                                  \
	  (nvmlDevice_t device, unsigned int profileId, const nvmlGpuInstancePlacement_t *placement,               \
	   nvmlGpuInstance_t *gpuInstance))                                                                        \
	X(nvmlGpuInstanceDestroy, nvmlReturn_t, (nvmlGpuInstance_t gpuInstance))                                   \
	X(nvmlDeviceGetGpuInstances, nvmlReturn_t, (nvmlDevice_t device, unsigned int profileId,                   \
						    nvmlGpuInstance_t *gpuInstances, unsigned int *count))         \
	X(nvmlDeviceGetGpuInstanceById, nvmlReturn_t, (nvmlDevice_t device, unsigned int id,                       \
						       nvmlGpuInstance_t *gpuInstance))                            \
	X(nvmlGpuInstanceGetInfo, nvmlReturn_t, (nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t *info))      \
	X(nvmlGpuInstanceGetComputeInstanceProfileInfoV, nvmlReturn_t,                                             \
	  (nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,                           \
	   nvmlComputeInstanceProfileInfo_v2_t *info))                                                             \
	X(nvmlGpuInstanceCreateComputeInstance, nvmlReturn_t, (nvmlGpuInstance_t gpuInstance,                      \
							       unsigned int profileId,                             \
							       nvmlComputeInstance_t *computeInstance))            \
	X(nvmlComputeInstanceDestroy, nvmlReturn_t, (nvmlComputeInstance_t computeInstance))                       \
	X(nvmlGpuInstanceGetComputeInstances, nvmlReturn_t,                                                        \
	  (nvmlGpuInstance_t gpuInstance, unsigned int profileId, nvmlComputeInstance_t *computeInstances,         \
	   unsigned int *count))                                                                                   \
	X(nvmlComputeInstanceGetInfo_v2, nvmlReturn_t, (nvmlComputeInstance_t computeInstance,                     \
							nvmlComputeInstanceInfo_t *info))                          \
	X(nvmlDeviceGetMaxMigDeviceCount, nvmlReturn_t, (nvmlDevice_t device, unsigned int *count))                \
	X(nvmlDeviceGetMigDeviceHandleByIndex, nvmlReturn_t, (nvmlDevice_t device, unsigned int index,             \
							      nvmlDevice_t *migDevice))                            \
	X(nvmlDeviceGetGpuInstanceId, nvmlReturn_t, (nvmlDevice_t device, unsigned int *id))                       \
	X(nvmlDeviceGetComputeInstanceId, nvmlReturn_t, (nvmlDevice_t device, unsigned int *id))                   \
	X(nvmlDeviceGetComputeRunningProcesses_v3, nvmlReturn_t, (nvmlDevice_t device, unsigned int *infoCount,   \
								  nvmlProcessInfo_t *infos))                               \
	X(nvmlDeviceGetGraphicsRunningProcesses_v3, nvmlReturn_t, (nvmlDevice_t device, unsigned int *infoCount,  \
								   nvmlProcessInfo_t *infos))                              \
	X(nvmlDeviceGetMPSComputeRunningProcesses_v3, nvmlReturn_t, (nvmlDevice_t device, unsigned int *infoCount, \
								     nvmlProcessInfo_t *infos))

#endif
