"""Builds the compiled parts; everything else lives in pyproject.toml.

``tessera.ledger._engine`` is the ledger's apply loop. ``tessera.rules._closed`` is the
enforcement index's answer table (one cache line a restricted subject). ``tessera.audit._prepare`` is the
access log's per-entry work (checks, canonical JSON, SHA-256, BLAKE2b, CRC-32); it needs
OpenSSL's libcrypto and zlib, and where their headers or libraries are missing it is left
out with a note: the access log then runs its pure-Python path, same bytes, slower.
``tessera.identity._hamming`` is the face index's full scan (AVX2 chosen at run time); it
needs GCC or Clang builtins, and where the compiler lacks them it is left out with a
note: the face index then scans with faiss, same candidates up to ties, slower.
"""

import os
import shlex
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, LinkError

C_FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
PREPARE = "tessera.audit._prepare"
PREPARE_LIBRARIES = ["crypto", "z"]
# What _prepare.c uses of each library: a compiler that builds and links this can build it.
PREPARE_PROBE = """
#include <openssl/evp.h>
#include <zlib.h>
int main(void) {
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = md && ctx && EVP_DigestInit_ex2(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return ok && crc32(0L, (const Bytef *)"", 0) == 0 ? 0 : 1;
}
"""
HAMMING = "tessera.identity._hamming"
# The compiler features _hamming.c uses: popcount and CPU builtins, AVX2 intrinsics in a target function.
HAMMING_PROBE = """
#include <stdint.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
__attribute__((target("avx2,popcnt"))) static int avx2(const unsigned char *p) {
    __m256i v = _mm256_loadu_si256((const __m256i *)p);
    return _mm256_movemask_epi8(_mm256_shuffle_epi8(v, _mm256_sad_epu8(v, v)));
}
#endif
int main(void) {
    unsigned char p[32] = {0};
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) return avx2(p);
#endif
    return __builtin_popcountll((uint64_t)p[0]);
}
"""
# Extensions left out, with a note, where their probe does not build: each has a slower path in Python.
OPTIONAL = {
    PREPARE: (
        PREPARE_PROBE,
        PREPARE_LIBRARIES,
        "OpenSSL 3 (libcrypto) or zlib headers/libraries not found. The access log uses its pure-Python path instead.",
    ),
    HAMMING: (
        HAMMING_PROBE,
        [],
        "the C compiler lacks GCC/Clang builtins or AVX2 intrinsics. The face index scans with faiss instead.",
    ),
}


class BuildExt(build_ext):
    """build_ext that leaves out each optional extension whose probe cannot be compiled and linked."""

    def build_extensions(self) -> None:
        for name, (probe, libraries, why) in OPTIONAL.items():
            if any(ext.name == name for ext in self.extensions) and not self._can_link(probe, libraries):
                print(f"note: not building {name}: {why}", file=sys.stderr)
                self.extensions = [ext for ext in self.extensions if ext.name != name]
        super().build_extensions()

    def _can_link(self, source: str, libraries: list[str]) -> bool:
        # The real build compiles with CFLAGS and links with LDFLAGS and CFLAGS (distutils'
        # customize_compiler), but link_executable uses the bare compiler: without the same
        # flags a sanitizer build (-fsanitize=...) fails the probe and silently drops the extension.
        link_flags = shlex.split(os.environ.get("LDFLAGS", "")) + shlex.split(os.environ.get("CFLAGS", ""))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "probe.c")
            with open(path, "w") as f:
                f.write(source)
            try:
                objects = self.compiler.compile([path], output_dir=tmp)
                self.compiler.link_executable(
                    objects, "probe", output_dir=tmp, libraries=libraries, extra_preargs=link_flags
                )
            except (CCompilerError, CompileError, LinkError):
                return False
        return True


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "tessera.ledger._engine",
            sources=["src/tessera/ledger/_engine.c"],
            depends=["src/tessera/ledger/engine.h"],
            extra_compile_args=C_FLAGS,
        ),
        Extension(
            PREPARE,
            sources=["src/tessera/audit/_prepare.c"],
            libraries=PREPARE_LIBRARIES,
            extra_compile_args=C_FLAGS,
        ),
        Extension(HAMMING, sources=["src/tessera/identity/_hamming.c"], extra_compile_args=C_FLAGS),
        Extension("tessera.rules._closed", sources=["src/tessera/rules/_closed.c"], extra_compile_args=C_FLAGS),
    ],
)
