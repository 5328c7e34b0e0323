"""Precompresses files for the server to send as they are: FILE -> FILE.gz.

zopfli writes ordinary gzip (any browser or `gunzip` reads it) that is about 4% smaller than
`gzip -9`; compression takes seconds, once per release build, and costs nothing per request.
Each output is decompressed again and compared with its input before it is kept.
"""

import gzip
import sys

import zopfli.gzip


def main(paths):
    for path in paths:
        with open(path, "rb") as source:
            data = source.read()
        packed = zopfli.gzip.compress(data, numiterations=15)
        if gzip.decompress(packed) != data:
            sys.exit(f"{path}: the compressed copy does not read back")
        with open(path + ".gz", "wb") as target:
            target.write(packed)
        print(f"{path}: {len(data)} -> {len(packed)} bytes gzip")


if __name__ == "__main__":
    main(sys.argv[1:])
