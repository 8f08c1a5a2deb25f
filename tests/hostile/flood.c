/* Unbounded output: contained when capture stops at the cap and the run is ended. */
#include <stdio.h>
int main(void) { for (;;) fputs("flood flood flood flood flood flood flood flood\n", stdout); }
