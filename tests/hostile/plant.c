/* Plants traps for the harness: symlinks out of the work folder and a FIFO. */
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
    symlink("/etc/shadow", "out.txt");
    symlink("/etc", "etcdir");
    mkfifo("fifo", 0666);
    return 0;
}
