/* Fork bomb: contained when the run returns and no process of the run uid is left. */
#include <unistd.h>
int main(void) { for (;;) fork(); }
