/* Compile-time leak through the assembler. */
__asm__(".section .rodata\n.global leaked\nleaked:\n.incbin \"/etc/passwd\"\n.byte 0\n.text\n");
extern const char leaked[];
#include <stdio.h>
int main(void) { puts(leaked); return 0; }
