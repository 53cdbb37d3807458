#include <catch2/catch.hpp>

#include <vector>

#include "mvq/core/matrix_view.hpp"

using namespace mvq;

TEST_CASE("matrix_view indexes rows with a stride", "[core][view]") {
  std::vector<int> a(3 * 5);
  for (int i = 0; i < 15; ++i) a[static_cast<std::size_t>(i)] = i;
  auto v = make_matrix_view(std::span<int>(a), 3, 4, 5);
  REQUIRE(v);
  CHECK((*v)(2, 3) == 13);
  CHECK(v->row(1)[0] == 5);
  CHECK(v->row(1).size() == 4);
  matrix_view<const int> c = *v;
  CHECK(c(1, 2) == 7);
}

TEST_CASE("make_matrix_view rejects shapes that do not fit", "[core][view]") {
  std::vector<float> a(10);
  CHECK(make_matrix_view(std::span<float>(a), 3, 4).error().code == errc::shape_mismatch);
  CHECK(make_matrix_view(std::span<float>(a), 2, 4, 3).error().code == errc::invalid_argument);
  CHECK(make_matrix_view(std::span<float>(a), static_cast<std::size_t>(-1) / 2, 4).error().code == errc::too_large);
  CHECK(make_matrix_view(std::span<float>(a), 0, 4));
  CHECK(make_matrix_view(std::span<float>(a), 2, 4, 6));  // last row needs only 4 of its stride
}
