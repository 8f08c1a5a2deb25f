    std::size_t n = label.size() < sizeof header.label ? label.size() : sizeof header.label - 1;
    std::memcpy(header.label, label.data(), n);
    header.label[n] = '\0';
    std::cout << "label: " << header.label << '\n';
    return 0;
}
