#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Usage: spool JOB. Creates the spool folder for print jobs (if missing) and queues JOB
 * in the file spool/job.txt. */
int main(int argc, char *argv[]) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s %s\n", argv[0], "JOB");
        return 1;
    }
    /* create the spool folder and write the job file */
