/* Network: contained when no connection can be made (only lo exists inside). */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int ok = 0;
    for (int i = 1; i < argc; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons(80);
        inet_pton(AF_INET, argv[i], &a.sin_addr);
        if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0) { printf("connected %s\n", argv[i]); ok = 1; }
        if (s >= 0) close(s);
    }
    return ok ? 0 : 7;
}
