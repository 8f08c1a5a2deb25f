    std::string path = "sessions/" + id;
    if (std::remove(path.c_str()) != 0) {
        std::perror(path.c_str());
        return 1;
    }
    std::cout << "session " << id << " closed\n";
    return 0;
}
