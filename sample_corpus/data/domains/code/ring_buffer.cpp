// A fixed-capacity ring buffer that overwrites its oldest element when full.
#include <array>
#include <cstddef>
#include <iostream>
#include <optional>

template <typename T, std::size_t N>
class RingBuffer {
 public:
  void push(const T& value) {
    data_[(start_ + size_) % N] = value;
    if (size_ < N) {
      ++size_;
    } else {
      start_ = (start_ + 1) % N;
    }
  }

  std::optional<T> pop() {
    if (size_ == 0) return std::nullopt;
    T value = data_[start_];
    start_ = (start_ + 1) % N;
    --size_;
    return value;
  }

  std::size_t size() const { return size_; }

 private:
  std::array<T, N> data_{};
  std::size_t start_ = 0;
  std::size_t size_ = 0;
};

int main() {
  RingBuffer<int, 3> buffer;
  for (int i = 1; i <= 5; ++i) buffer.push(i);
  while (auto v = buffer.pop()) std::cout << *v << ' ';
  std::cout << '\n';
  return 0;
}
