//! Unit tests of `base`: layers built here with `tar` and flate2, unpacked through a cache.
