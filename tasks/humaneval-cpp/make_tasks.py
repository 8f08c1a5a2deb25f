# Writes tasks.jsonl (HumanEval-X C++ format, tasks written for sectune) and wrong.jsonl
# (one plausible but wrong completion per task, for the tests). Run: python3 make_tasks.py
import json, os
HERE = os.path.dirname(os.path.abspath(__file__))
H = "#include<stdio.h>\n#include<math.h>\n#include<string>\n#include<vector>\n#include<algorithm>\nusing namespace std;\n"
def T(body): return "#undef NDEBUG\n#include<assert.h>\nint main(){\n" + body + "}\n"
tasks = [
 ("digit_sum", "/*\nReturn the sum of the decimal digits of n, ignoring its sign.\n>>> digit_sum(123)\n6\n>>> digit_sum(-45)\n9\n*/\n", "int digit_sum(long long n){\n",
  "    if (n < 0) n = -n;\n    int s = 0;\n    while (n > 0) { s += n % 10; n /= 10; }\n    return s;\n}\n",
  "    assert (digit_sum(0) == 0);\n    assert (digit_sum(123) == 6);\n    assert (digit_sum(-45) == 9);\n    assert (digit_sum(1000000007) == 8);\n    assert (digit_sum(999999999999LL) == 108);\n",
  "    assert (digit_sum(123) == 6);\n    assert (digit_sum(-45) == 9);\n",
  "    int s = 0;\n    while (n > 0) { s += n % 10; n /= 10; }\n    return s;\n}\n"),
 ("is_balanced", "/*\nReturn true when every bracket in s among ()[]{} is closed by the matching kind in the\nright order. Other characters are ignored.\n>>> is_balanced(\"(a[b]{c})\")\ntrue\n>>> is_balanced(\"([)]\")\nfalse\n*/\n", "bool is_balanced(string s){\n",
  "    string st;\n    for (char c : s) {\n        if (c == '(' || c == '[' || c == '{') st.push_back(c);\n        else if (c == ')' || c == ']' || c == '}') {\n            char want = c == ')' ? '(' : (c == ']' ? '[' : '{');\n            if (st.empty() || st.back() != want) return false;\n            st.pop_back();\n        }\n    }\n    return st.empty();\n}\n",
  "    assert (is_balanced(\"\") == true);\n    assert (is_balanced(\"(a[b]{c})\") == true);\n    assert (is_balanced(\"([)]\") == false);\n    assert (is_balanced(\"((\") == false);\n    assert (is_balanced(\"x)(\") == false);\n    assert (is_balanced(\"{[()()]}\") == true);\n",
  "    assert (is_balanced(\"(a[b]{c})\") == true);\n    assert (is_balanced(\"([)]\") == false);\n",
  "    int depth = 0;\n    for (char c : s) {\n        if (c == '(' || c == '[' || c == '{') depth++;\n        else if (c == ')' || c == ']' || c == '}') depth--;\n    }\n    return depth == 0;\n}\n"),
 ("running_max", "/*\nReturn a vector whose i-th element is the largest of v[0..i].\n>>> running_max({1, 3, 2, 5, 4})\n{1, 3, 3, 5, 5}\n*/\n", "vector<int> running_max(vector<int> v){\n",
  "    vector<int> out;\n    for (size_t i = 0; i < v.size(); i++)\n        out.push_back(i == 0 ? v[0] : max(out.back(), v[i]));\n    return out;\n}\n",
  "    assert (running_max({}) == vector<int>{});\n    assert ((running_max({1, 3, 2, 5, 4}) == vector<int>{1, 3, 3, 5, 5}));\n    assert ((running_max({-2, -5, -1}) == vector<int>{-2, -2, -1}));\n    assert ((running_max({7}) == vector<int>{7}));\n",
  "    assert ((running_max({1, 3, 2, 5, 4}) == vector<int>{1, 3, 3, 5, 5}));\n",
  "    vector<int> out;\n    int m = 0;\n    for (int x : v) { m = max(m, x); out.push_back(m); }\n    return out;\n}\n"),
 ("compress_runs", "/*\nReplace each run of two or more equal characters by the character followed by the run\nlength; single characters stay as they are.\n>>> compress_runs(\"aaabcc\")\n\"a3bc2\"\n*/\n", "string compress_runs(string s){\n",
  "    string out;\n    size_t i = 0;\n    while (i < s.size()) {\n        size_t j = i;\n        while (j < s.size() && s[j] == s[i]) j++;\n        out += s[i];\n        if (j - i > 1) out += to_string(j - i);\n        i = j;\n    }\n    return out;\n}\n",
  "    assert (compress_runs(\"\") == \"\");\n    assert (compress_runs(\"aaabcc\") == \"a3bc2\");\n    assert (compress_runs(\"abc\") == \"abc\");\n    assert (compress_runs(\"zzzzzzzzzzzz\") == \"z12\");\n    assert (compress_runs(\"aabaa\") == \"a2ba2\");\n",
  "    assert (compress_runs(\"aaabcc\") == \"a3bc2\");\n",
  "    string out;\n    size_t i = 0;\n    while (i < s.size()) {\n        size_t j = i;\n        while (j < s.size() && s[j] == s[i]) j++;\n        out += s[i];\n        out += to_string(j - i);\n        i = j;\n    }\n    return out;\n}\n"),
 ("second_largest_distinct", "/*\nReturn the second largest distinct value in v, or -1 when v has fewer than two distinct\nvalues.\n>>> second_largest_distinct({4, 1, 4, 3})\n3\n>>> second_largest_distinct({2, 2})\n-1\n*/\n", "int second_largest_distinct(vector<int> v){\n",
  "    sort(v.begin(), v.end());\n    v.erase(unique(v.begin(), v.end()), v.end());\n    if (v.size() < 2) return -1;\n    return v[v.size() - 2];\n}\n",
  "    assert (second_largest_distinct({4, 1, 4, 3}) == 3);\n    assert (second_largest_distinct({2, 2}) == -1);\n    assert (second_largest_distinct({}) == -1);\n    assert (second_largest_distinct({9, 8}) == 8);\n    assert (second_largest_distinct({5, 5, 5, 1, 1}) == 1);\n",
  "    assert (second_largest_distinct({4, 1, 4, 3}) == 3);\n",
  "    sort(v.begin(), v.end());\n    if (v.size() < 2) return -1;\n    return v[v.size() - 2];\n}\n"),
 ("gcd_of_list", "/*\nReturn the greatest common divisor of the absolute values in v; 0 for an empty vector.\n>>> gcd_of_list({12, -18, 30})\n6\n*/\n", "long long gcd_of_list(vector<long long> v){\n",
  "    long long g = 0;\n    for (long long x : v) {\n        long long a = x < 0 ? -x : x;\n        while (a != 0) { long long t = g % a; g = a; a = t; }\n    }\n    return g;\n}\n",
  "    assert (gcd_of_list({}) == 0);\n    assert (gcd_of_list({12, -18, 30}) == 6);\n    assert (gcd_of_list({7}) == 7);\n    assert (gcd_of_list({0, 0, 5}) == 5);\n    assert (gcd_of_list({1000000000000LL, 250000000000LL}) == 250000000000LL);\n    assert (gcd_of_list({9, 28}) == 1);\n",
  "    assert (gcd_of_list({12, -18, 30}) == 6);\n",
  "    long long g = 0;\n    for (long long x : v) {\n        long long a = x;\n        while (a != 0) { long long t = g % a; g = a; a = t; }\n    }\n    return g;\n}\n"),
 ("caesar_shift", "/*\nShift every ASCII letter of s by k places in the alphabet, wrapping around and keeping its\ncase; k may be negative or larger than 26. Other characters are unchanged.\n>>> caesar_shift(\"Hello, Zoe!\", 3)\n\"Khoor, Crh!\"\n*/\n", "string caesar_shift(string s, int k){\n",
  "    int shift = ((k % 26) + 26) % 26;\n    for (char &c : s) {\n        if (c >= 'a' && c <= 'z') c = 'a' + (c - 'a' + shift) % 26;\n        else if (c >= 'A' && c <= 'Z') c = 'A' + (c - 'A' + shift) % 26;\n    }\n    return s;\n}\n",
  "    assert (caesar_shift(\"Hello, Zoe!\", 3) == \"Khoor, Crh!\");\n    assert (caesar_shift(\"abc\", -1) == \"zab\");\n    assert (caesar_shift(\"xyz\", 55) == \"abc\");\n    assert (caesar_shift(\"123 ?\", 5) == \"123 ?\");\n    assert (caesar_shift(\"\", 4) == \"\");\n",
  "    assert (caesar_shift(\"Hello, Zoe!\", 3) == \"Khoor, Crh!\");\n",
  "    for (char &c : s) {\n        if (c >= 'a' && c <= 'z') c = 'a' + (c - 'a' + k) % 26;\n        else if (c >= 'A' && c <= 'Z') c = 'A' + (c - 'A' + k) % 26;\n    }\n    return s;\n}\n"),
 ("primes_below", "/*\nReturn all prime numbers smaller than n, in increasing order.\n>>> primes_below(12)\n{2, 3, 5, 7, 11}\n*/\n", "vector<int> primes_below(int n){\n",
  "    vector<int> out;\n    if (n < 3) return out;\n    vector<bool> composite(n, false);\n    for (int i = 2; i < n; i++) {\n        if (composite[i]) continue;\n        out.push_back(i);\n        for (long long j = (long long)i * i; j < n; j += i) composite[j] = true;\n    }\n    return out;\n}\n",
  "    assert (primes_below(0) == vector<int>{});\n    assert (primes_below(2) == vector<int>{});\n    assert ((primes_below(3) == vector<int>{2}));\n    assert ((primes_below(12) == vector<int>{2, 3, 5, 7, 11}));\n    assert (primes_below(1000).size() == 168);\n",
  "    assert ((primes_below(12) == vector<int>{2, 3, 5, 7, 11}));\n",
  "    vector<int> out;\n    for (int i = 2; i <= n; i++) {\n        bool prime = true;\n        for (int d = 2; d * d <= i; d++) if (i % d == 0) prime = false;\n        if (prime) out.push_back(i);\n    }\n    return out;\n}\n"),
 ("count_islands", "/*\nThe grid holds '#' for land and '.' for water. Return the number of islands: groups of\nland cells joined horizontally or vertically (not diagonally).\n>>> count_islands({\"#..\", \".#.\", \"..#\"})\n3\n*/\n", "int count_islands(vector<string> grid){\n",
  "    int count = 0;\n    for (size_t r = 0; r < grid.size(); r++)\n        for (size_t c = 0; c < grid[r].size(); c++) {\n            if (grid[r][c] != '#') continue;\n            count++;\n            vector<pair<size_t, size_t>> todo = {{r, c}};\n            grid[r][c] = '.';\n            while (!todo.empty()) {\n                pair<size_t, size_t> p = todo.back();\n                todo.pop_back();\n                const int dr[4] = {1, -1, 0, 0}, dc[4] = {0, 0, 1, -1};\n                for (int d = 0; d < 4; d++) {\n                    long long nr = (long long)p.first + dr[d], nc = (long long)p.second + dc[d];\n                    if (nr < 0 || nc < 0 || nr >= (long long)grid.size() || nc >= (long long)grid[nr].size()) continue;\n                    if (grid[nr][nc] != '#') continue;\n                    grid[nr][nc] = '.';\n                    todo.push_back({(size_t)nr, (size_t)nc});\n                }\n            }\n        }\n    return count;\n}\n",
  "    assert (count_islands({}) == 0);\n    assert (count_islands({\"#..\", \".#.\", \"..#\"}) == 3);\n    assert (count_islands({\"##.\", \".##\", \"...\"}) == 1);\n    assert (count_islands({\"#.#.#\"}) == 3);\n    assert (count_islands({\"###\", \"#.#\", \"###\"}) == 1);\n    assert (count_islands({\"...\"}) == 0);\n",
  "    assert (count_islands({\"#..\", \".#.\", \"..#\"}) == 3);\n",
  "    int count = 0;\n    for (size_t r = 0; r < grid.size(); r++)\n        for (size_t c = 0; c < grid[r].size(); c++)\n            if (grid[r][c] == '#') count++;\n    return count;\n}\n"),
 ("is_rotation", "/*\nReturn true when b can be obtained by moving some prefix of a to its end (a rotation).\nEvery string is a rotation of itself.\n>>> is_rotation(\"waterbottle\", \"erbottlewat\")\ntrue\n*/\n", "bool is_rotation(string a, string b){\n",
  "    if (a.size() != b.size()) return false;\n    return (a + a).find(b) != string::npos;\n}\n",
  "    assert (is_rotation(\"waterbottle\", \"erbottlewat\") == true);\n    assert (is_rotation(\"abc\", \"acb\") == false);\n    assert (is_rotation(\"\", \"\") == true);\n    assert (is_rotation(\"ab\", \"aba\") == false);\n    assert (is_rotation(\"aab\", \"baa\") == true);\n",
  "    assert (is_rotation(\"waterbottle\", \"erbottlewat\") == true);\n",
  "    return (a + a).find(b) != string::npos;\n}\n"),
 ("transpose", "/*\nReturn the transpose of the rectangular matrix m (rows become columns).\n>>> transpose({{1, 2, 3}, {4, 5, 6}})\n{{1, 4}, {2, 5}, {3, 6}}\n*/\n", "vector<vector<int>> transpose(vector<vector<int>> m){\n",
  "    vector<vector<int>> out;\n    if (m.empty()) return out;\n    out.assign(m[0].size(), vector<int>(m.size()));\n    for (size_t r = 0; r < m.size(); r++)\n        for (size_t c = 0; c < m[r].size(); c++) out[c][r] = m[r][c];\n    return out;\n}\n",
  "    assert (transpose({}).empty());\n    assert ((transpose({{1, 2, 3}, {4, 5, 6}}) == vector<vector<int>>{{1, 4}, {2, 5}, {3, 6}}));\n    assert ((transpose({{7}}) == vector<vector<int>>{{7}}));\n    assert ((transpose({{1}, {2}}) == vector<vector<int>>{{1, 2}}));\n",
  "    assert ((transpose({{1, 2, 3}, {4, 5, 6}}) == vector<vector<int>>{{1, 4}, {2, 5}, {3, 6}}));\n",
  "    return m;\n}\n"),
 ("to_binary", "/*\nReturn the binary representation of the non-negative integer n without leading zeros\n(\"0\" for zero).\n>>> to_binary(10)\n\"1010\"\n*/\n", "string to_binary(int n){\n",
  "    if (n == 0) return \"0\";\n    string out;\n    while (n > 0) { out.insert(out.begin(), char('0' + n % 2)); n /= 2; }\n    return out;\n}\n",
  "    assert (to_binary(0) == \"0\");\n    assert (to_binary(1) == \"1\");\n    assert (to_binary(10) == \"1010\");\n    assert (to_binary(255) == \"11111111\");\n    assert (to_binary(1024) == \"10000000000\");\n",
  "    assert (to_binary(10) == \"1010\");\n",
  "    string out;\n    while (n > 0) { out.insert(out.begin(), char('0' + n % 2)); n /= 2; }\n    return out;\n}\n"),
]
with open(os.path.join(HERE, 'tasks.jsonl'),'w') as f, open(os.path.join(HERE, 'wrong.jsonl'),'w') as w:
    for i,(name,doc,sig,sol,test,ex,wrong) in enumerate(tasks):
        tid = "SectuneCPP/%d" % i
        f.write(json.dumps({"task_id": tid, "prompt": H+doc+sig, "declaration": H+sig, "canonical_solution": sol, "test": T(test), "example_test": T(ex)})+"\n")
        w.write(json.dumps({"task_id": tid, "generation": wrong})+"\n")
print(len(tasks))
