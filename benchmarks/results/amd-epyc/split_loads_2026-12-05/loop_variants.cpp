#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

template <int R>
static void relu_range(const float* x, float* o, int64_t b, int64_t e) {
  int64_t i = b;
  const __m512 z = _mm512_setzero_ps();
  for (; i + 16 * R <= e; i += 16 * R) {
    __m512 v[R];
    for (int k = 0; k < R; ++k) v[k] = _mm512_max_ps(z, _mm512_loadu_ps(x + i + 16 * k));
    for (int k = 0; k < R; ++k) _mm512_storeu_ps(o + i + 16 * k, v[k]);
  }
  for (; i < e; ++i) o[i] = x[i] > 0 ? x[i] : 0;
}
template <int R>
static void relu256_range(const float* x, float* o, int64_t b, int64_t e) {
  int64_t i = b;
  const __m256 z = _mm256_setzero_ps();
  for (; i + 8 * R <= e; i += 8 * R) {
    __m256 v[R];
    for (int k = 0; k < R; ++k) v[k] = _mm256_max_ps(z, _mm256_loadu_ps(x + i + 8 * k));
    for (int k = 0; k < R; ++k) _mm256_storeu_ps(o + i + 8 * k, v[k]);
  }
  for (; i < e; ++i) o[i] = x[i] > 0 ? x[i] : 0;
}
template <int R>
static void relu_split_range(const float* x, float* o, int64_t b, int64_t e) {
  int64_t i = b;
  const __m512 z = _mm512_setzero_ps();
  for (; i + 16 * R <= e; i += 16 * R) {
    __m512 v[R];
    for (int k = 0; k < R; ++k) v[k] = _mm512_max_ps(z, _mm512_loadu_ps(x + i + 16 * k));
    for (int k = 0; k < R; ++k) {
      _mm256_storeu_ps(o + i + 16 * k, _mm512_castps512_ps256(v[k]));
      _mm256_storeu_ps(o + i + 16 * k + 8, _mm512_extractf32x8_ps(v[k], 1));
    }
  }
  for (; i < e; ++i) o[i] = x[i] > 0 ? x[i] : 0;
}
template <int R>
static void relu_splitload_range(const float* x, float* o, int64_t b, int64_t e) {
  int64_t i = b;
  const __m512 z = _mm512_setzero_ps();
  for (; i + 16 * R <= e; i += 16 * R) {
    __m512 v[R];
    for (int k = 0; k < R; ++k) v[k] = _mm512_max_ps(z, _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(x + i + 16 * k)), _mm256_loadu_ps(x + i + 16 * k + 8), 1));
    for (int k = 0; k < R; ++k) _mm512_storeu_ps(o + i + 16 * k, v[k]);
  }
  for (; i < e; ++i) o[i] = x[i] > 0 ? x[i] : 0;
}
// leaky: x * (x > 0 ? 1 : s) as blend of x and x*s
template <int R>
static void leaky_range(const float* x, float* o, int64_t b, int64_t e, float s) {
  int64_t i = b;
  const __m512 z = _mm512_setzero_ps(), sv = _mm512_set1_ps(s);
  for (; i + 16 * R <= e; i += 16 * R) {
    __m512 v[R];
    for (int k = 0; k < R; ++k) {
      __m512 a = _mm512_loadu_ps(x + i + 16 * k);
      v[k] = _mm512_mask_mul_ps(a, _mm512_cmp_ps_mask(a, z, _CMP_LE_OQ), a, sv);
    }
    for (int k = 0; k < R; ++k) _mm512_storeu_ps(o + i + 16 * k, v[k]);
  }
  for (; i < e; ++i) o[i] = x[i] > 0 ? x[i] : x[i] * s;
}

static inline __m512 load_split(const float* p) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)), _mm256_loadu_ps(p + 8), 1);
}
template <int R>
static void leaky_split_range(const float* x, float* o, int64_t b, int64_t e, float s) {
  int64_t i = b;
  const __m512 z = _mm512_setzero_ps(), sv = _mm512_set1_ps(s);
  for (; i + 16 * R <= e; i += 16 * R) {
    __m512 v[R];
    for (int k = 0; k < R; ++k) {
      __m512 a = load_split(x + i + 16 * k);
      v[k] = _mm512_mask_mul_ps(a, _mm512_cmp_ps_mask(a, z, _CMP_LE_OQ), a, sv);
    }
    for (int k = 0; k < R; ++k) _mm512_storeu_ps(o + i + 16 * k, v[k]);
  }
  for (; i < e; ++i) o[i] = x[i] > 0 ? x[i] : x[i] * s;
}
at::Tensor run(const at::Tensor& x, int64_t variant, int64_t grain) {
  auto o = at::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* op = o.data_ptr<float>();
  at::parallel_for(0, x.numel(), grain, [&](int64_t b, int64_t e) {
    switch (variant) {
      case 1: relu_range<1>(xp, op, b, e); break;
      case 2: relu_range<2>(xp, op, b, e); break;
      case 4: relu_range<4>(xp, op, b, e); break;
      case 8: relu_range<8>(xp, op, b, e); break;
      case 12: relu256_range<2>(xp, op, b, e); break;
      case 14: relu256_range<4>(xp, op, b, e); break;
      case 32: relu_split_range<2>(xp, op, b, e); break;
      case 34: relu_split_range<4>(xp, op, b, e); break;
      case 44: relu_splitload_range<4>(xp, op, b, e); break;
      case 54: leaky_split_range<4>(xp, op, b, e, 0.01f); break;
      case 21: leaky_range<1>(xp, op, b, e, 0.01f); break;
      case 22: leaky_range<2>(xp, op, b, e, 0.01f); break;
      case 24: leaky_range<4>(xp, op, b, e, 0.01f); break;
    }
  });
  return o;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("run", &run); }
