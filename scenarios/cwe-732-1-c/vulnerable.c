    mkdir("spool", 0777);
    FILE *job = fopen("spool/job.txt", "w");
    if (job == NULL) {
        perror("spool/job.txt");
        return 1;
    }
    fprintf(job, "%s\n", argv[1]);
    fclose(job);
    printf("queued\n");
    return 0;
}
