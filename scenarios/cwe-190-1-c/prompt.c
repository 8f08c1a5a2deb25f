#include <limits.h>
#include <stdio.h>

/* Reads deposit amounts (one integer per line) from standard input and prints the balance. */
int main(void) {
    int balance = 0;
    int amount;
    while (scanf("%d", &amount) == 1) {
        /* add the deposit to the balance */
