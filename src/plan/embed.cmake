# SPDX-License-Identifier: Apache-2.0
# Writes a JSON file into a C source as a NUL-terminated char array, so that `kerf demo` carries its
# example inside the binary. Run at build time: cmake -DIN=... -DOUT=... -DNAME=... -P embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n\t" body "${body}")
file(WRITE "${OUT}" "/* Generated from ${IN} by embed.cmake at build time; do not edit. */\n#include \"plan_example.h\"\n\nconst unsigned char ${NAME}[] = {\n\t${body}0x00\n};\n")
