"""What reading a compressed file raises where it is cut or corrupt, for each compression
fsspec reads: gzip (through isal, where installed, with its own error for a bad deflate
block), bz2, xz (LZMAError), and a stream that ends early (EOFError). The line and text
readers keep what came before and count the rest as one errored `corrupt_archive`; the
model-training commands name the file."""

from __future__ import annotations

import lzma
import zlib

from isal.igzip_lib import IsalError

DAMAGED_STREAM = (EOFError, OSError, zlib.error, IsalError, lzma.LZMAError)
