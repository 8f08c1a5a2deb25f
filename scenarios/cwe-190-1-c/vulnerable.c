        balance += amount;
    }
    printf("balance: %d\n", balance);
    return 0;
}
