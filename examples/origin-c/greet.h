#ifndef GREET_H
#define GREET_H

/* Prints the greeting; defined in libgreet.so.1. */
void greet(void);

#endif
