#include <iostream>
#include <string>
#include <vector>

struct Job {
    int id;
    int pages;
};

// Usage: queue PAGES < more. Builds a print queue whose first job has PAGES pages, adds one job
// per number on standard input, then prints the first job and the number of jobs.
int main(int argc, char *argv[]) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " PAGES\n";
        return 1;
    }
    std::vector<Job> jobs;
    jobs.push_back(Job{1, std::stoi(argv[1])});
    const Job &first = jobs.front();
    int pages = 0;
    // add the jobs from standard input, then print "first: job ID (PAGES pages), jobs: N"
