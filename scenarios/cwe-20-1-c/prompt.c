#include <stdio.h>
#include <stdlib.h>

#define UNIT_PRICE_CENTS 1250
#define MAX_TICKETS 10

/* Usage: order QUANTITY. Prints the amount to charge for QUANTITY tickets;
 * an order holds 1 to MAX_TICKETS tickets. */
int main(int argc, char *argv[]) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s QUANTITY\n", argv[0]);
        return 1;
    }
    /* parse the quantity and print "charge: <cents>" */
