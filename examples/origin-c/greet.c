/* A private shared library, shipped next to the program rather than in a system directory. */
#include <stdio.h>

#include "greet.h"

void greet(void) {
    puts("hello from libgreet via $ORIGIN");
}
