/* exp_coeffs: the constants of the vector exp polynomial, one set for every ISA's version
 * (exp_avx2.h, exp_avx512.h, exp_neon.h), so that the tiers agree on it by construction.
 * x = n ln2 + r with n = round(x log2(e)); ln2 in two parts (HI has 9 significant bits, so
 * n * HI is exact for every n of the callers' ranges, |n| <= 150); exp(r) for |r| <= ln2 / 2 as
 * 1 + r + r^2 (P5 + r (P4 + r (P3 + r (P2 + r (P1 + r P0))))) (Cephes' expf coefficients). */
#ifndef BITNET_EXP_COEFFS_H
#define BITNET_EXP_COEFFS_H

#define BN_EXP_LOG2E 1.44269504088896341f
#define BN_EXP_LN2_HI 0.693359375f
#define BN_EXP_LN2_LO (-2.12194440e-4f)
#define BN_EXP_P0 1.9875691500e-4f
#define BN_EXP_P1 1.3981999507e-3f
#define BN_EXP_P2 8.3334519073e-3f
#define BN_EXP_P3 4.1665795894e-2f
#define BN_EXP_P4 1.6666665459e-1f
#define BN_EXP_P5 5.0000001201e-1f

#endif
