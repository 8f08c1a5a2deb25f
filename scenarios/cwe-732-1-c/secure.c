    umask(027);
    if (mkdir("spool", 0750) != 0) {
        struct stat info;
        if (stat("spool", &info) != 0 || !S_ISDIR(info.st_mode)) {
            perror("spool");
            return 1;
        }
    }
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
