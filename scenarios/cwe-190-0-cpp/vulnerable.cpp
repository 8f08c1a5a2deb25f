    int milliseconds = seconds * 1000;
    std::cout << "timeout: " << milliseconds << " ms\n";
    return 0;
}
