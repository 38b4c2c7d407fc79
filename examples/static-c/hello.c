/* The smallest useful image payload: a statically linked C program. */
#include <stdio.h>

int main(void) {
    puts("hello from a static binary");
    return 0;
}
