# SPDX-License-Identifier: Apache-2.0
# Runs protoc-c on one .proto (cmake -P, from src/kubelet/CMakeLists.txt).
#
# protoc-c 1.4 names a service's C function-pointer members after the RPCs, lower-cased, so the
# kubelet's Registration.Register becomes a member called `register`, a C keyword, and the header does
# not compile. The RPC name is fixed by the kubelet's API, so the generated header's member (which kerf
# never uses: it has its own gRPC transport) is renamed here, right after generation.
execute_process(COMMAND ${PROTOC_C} --c_out=${OUT} -I${PROTO_DIR} ${PROTO_DIR}/${NAME}.proto RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "protoc-c failed on ${NAME}.proto")
endif()
file(READ ${OUT}/${NAME}.pb-c.h h)
string(REPLACE "(*register)(" "(*register_)(" h "${h}")
string(REPLACE "## register  }" "## register_  }" h "${h}")
file(WRITE ${OUT}/${NAME}.pb-c.h "${h}")
