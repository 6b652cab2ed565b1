// 3-stream kernel c = f(a, b) on n floats, 2 threads (OpenMP), variants of stores/prefetch.
#include <immintrin.h>
#include <omp.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
static float* alloc(size_t n) { void* p; posix_memalign(&p, 64, n * 4); memset(p, 0, n*4); return (float*)p; }
template <int MODE, int PF>
void kern(const float* a, const float* b, float* c, size_t n) {
#pragma omp parallel
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    size_t chunk = (n / T + 15) & ~size_t(15);
    size_t lo = std::min(n, t * chunk), hi = std::min(n, lo + chunk);
    const __m512 z = _mm512_setzero_ps();
    for (size_t i = lo; i < hi; i += 16) {
      if (PF) {
        _mm_prefetch((const char*)(a + i + PF), _MM_HINT_T1);
        _mm_prefetch((const char*)(b + i + PF), _MM_HINT_T1);
      }
      __m512 x = _mm512_load_ps(a + i), g = _mm512_load_ps(b + i);
      __m512 r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, z, _CMP_GT_OQ), _mm512_mul_ps(g, _mm512_set1_ps(0.5f)), g);
      if (MODE == 0) _mm512_store_ps(c + i, r); else _mm512_stream_ps(c + i, r);
    }
  }
}
template <int MODE, int PF>
double run(const float* a, const float* b, float* c, size_t n) {
  std::vector<double> ts;
  for (int r = 0; r < 30; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    kern<MODE, PF>(a, b, c, n);
    ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ts.begin(), ts.end()); return ts[15];
}
int main(int argc, char** argv) {
  size_t n = argc > 1 ? atol(argv[1]) : (4u << 20);
  int copies = 4;
  std::vector<float*> A, B, C;
  for (int k = 0; k < copies; ++k) { A.push_back(alloc(n)); B.push_back(alloc(n)); C.push_back(alloc(n)); }
  for (int rep = 0; rep < 3; ++rep) {
    double r[6] = {0};
    for (int k = 0; k < copies; ++k) {
      r[0] += run<0, 0>(A[k], B[k], C[k], n);
      r[1] += run<1, 0>(A[k], B[k], C[k], n);
      r[2] += run<1, 256>(A[k], B[k], C[k], n);
      r[3] += run<1, 1024>(A[k], B[k], C[k], n);
      r[4] += run<0, 256>(A[k], B[k], C[k], n);
      r[5] += run<1, 4096>(A[k], B[k], C[k], n);
    }
    const char* names[6] = {"store", "stream", "stream+pf1K", "stream+pf4K", "store+pf1K", "stream+pf16K"};
    for (int v = 0; v < 6; ++v) printf("%s %.3f ms (%.1f GB/s)  ", names[v], r[v] / copies * 1e3, 12.0 * n / (r[v] / copies) / 1e9);
    printf("\n");
  }
}
