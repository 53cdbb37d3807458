# Quality study: plain k-means VQ against MVQ at matched bits per weight on the shared pretrained models
# (writes the markdown table of docs/quality.md). Run: build/<dir>/bench/quality_study [--models DIR] [--out FILE]
find_package(nlohmann_json REQUIRED)
mvq_add_bench(quality_study SOURCES quality_study.cpp LIBS nlohmann_json::nlohmann_json)
