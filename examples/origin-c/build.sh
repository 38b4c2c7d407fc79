#!/bin/sh
# Builds dist/: bin/app finds lib/libgreet.so.1 through DT_RUNPATH $ORIGIN/../lib, so the whole
# folder can be moved anywhere (in the image it lives at /opt/greet).
set -eu
cd "$(dirname "$0")"
CC=${CC:-gcc}

rm -rf dist
mkdir -p dist/bin dist/lib

"$CC" -O2 -fPIC -shared -Wl,-soname,libgreet.so.1 -o dist/lib/libgreet.so.1 greet.c
ln -s libgreet.so.1 dist/lib/libgreet.so

# Single quotes keep $ORIGIN literal; --enable-new-dtags writes DT_RUNPATH (not DT_RPATH).
"$CC" -O2 -o dist/bin/app app.c -Ldist/lib -lgreet \
    -Wl,-rpath,'$ORIGIN/../lib' -Wl,--enable-new-dtags

echo "built dist/bin/app and dist/lib/libgreet.so.1"
