#include <cstdio>
#include <fcntl.h>
#include <iostream>
#include <string>
#include <unistd.h>

// Writes this daemon's process id to service.pid. Monitoring tools of other users read the
// file; only the daemon may change it.
int main() {
    std::string pid = std::to_string(getpid());
    // create service.pid holding the pid, then print "pid file written"
