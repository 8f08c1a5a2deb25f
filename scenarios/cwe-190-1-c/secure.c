        if ((amount > 0 && balance > INT_MAX - amount) || (amount < 0 && balance < INT_MIN - amount)) {
            fprintf(stderr, "balance out of range\n");
            return 1;
        }
        balance += amount;
    }
    printf("balance: %d\n", balance);
    return 0;
}
