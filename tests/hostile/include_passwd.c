/* Compile-time leak: the compiler itself reads a host file. */
static const char leak[] = {
#include "/etc/passwd"
};
int main(void) { return leak[0]; }
