/* Calls into libgreet.so.1, which the loader finds through DT_RUNPATH $ORIGIN/../lib. */
#include "greet.h"

int main(void) {
    greet();
    return 0;
}
