"""Builds the compiled parts; everything else lives in pyproject.toml.

``tessera.ledger._engine`` is the ledger's apply loop. ``tessera.audit._prepare`` is the
access log's per-entry work (checks, canonical JSON, SHA-256, BLAKE2b, CRC-32); it needs
OpenSSL's libcrypto and zlib, and where their headers or libraries are missing it is left
out with a note: the access log then runs its pure-Python path, same bytes, slower.
"""

import os
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, LinkError

C_FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
PREPARE = "tessera.audit._prepare"
PREPARE_LIBRARIES = ["crypto", "z"]
# What _prepare.c uses of each library: a compiler that builds and links this can build it.
PROBE = """
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


class BuildExt(build_ext):
    """build_ext that leaves out the audit extension where OpenSSL 3 or zlib cannot be compiled against."""

    def build_extensions(self) -> None:
        if any(ext.name == PREPARE for ext in self.extensions) and not self._can_link(PROBE, PREPARE_LIBRARIES):
            print(
                f"note: OpenSSL 3 (libcrypto) or zlib headers/libraries not found; not building {PREPARE}."
                " The access log uses its pure-Python path instead.",
                file=sys.stderr,
            )
            self.extensions = [ext for ext in self.extensions if ext.name != PREPARE]
        super().build_extensions()

    def _can_link(self, source: str, libraries: list[str]) -> bool:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "probe.c")
            with open(path, "w") as f:
                f.write(source)
            try:
                objects = self.compiler.compile([path], output_dir=tmp)
                self.compiler.link_executable(objects, "probe", output_dir=tmp, libraries=libraries)
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
    ],
)
