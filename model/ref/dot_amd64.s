#include "textflag.h"

// func dotAVX2(a, b *float32, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	SHLQ $2, CX
	XORQ AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ CX, DX
	SUBQ $128, DX
	JL   dot_tail

dot_loop32:
	VMOVUPS     (SI)(AX*1), Y4
	VMOVUPS     32(SI)(AX*1), Y5
	VMOVUPS     64(SI)(AX*1), Y6
	VMOVUPS     96(SI)(AX*1), Y7
	VFMADD231PS (DI)(AX*1), Y4, Y0
	VFMADD231PS 32(DI)(AX*1), Y5, Y1
	VFMADD231PS 64(DI)(AX*1), Y6, Y2
	VFMADD231PS 96(DI)(AX*1), Y7, Y3
	ADDQ        $128, AX
	CMPQ        AX, DX
	JLE         dot_loop32

dot_tail:
	CMPQ        AX, CX
	JGE         dot_reduce
	VMOVUPS     (SI)(AX*1), Y4
	VFMADD231PS (DI)(AX*1), Y4, Y0
	ADDQ        $32, AX
	JMP         dot_tail

dot_reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+24(FP)
	RET

// func dot4AVX2(w *float32, stride int, x *float32, n int, out *[4]float32)
TEXT ·dot4AVX2(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), R8
	MOVQ stride+8(FP), R12
	SHLQ $2, R12
	LEAQ (R8)(R12*1), R9
	LEAQ (R9)(R12*1), R10
	LEAQ (R10)(R12*1), R11
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	SHLQ $2, CX
	XORQ AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ CX, DX
	SUBQ $64, DX
	JL   d4_tail

d4_loop16:
	VMOVUPS     (DI)(AX*1), Y8
	VMOVUPS     32(DI)(AX*1), Y9
	VFMADD231PS (R8)(AX*1), Y8, Y0
	VFMADD231PS (R9)(AX*1), Y8, Y1
	VFMADD231PS (R10)(AX*1), Y8, Y2
	VFMADD231PS (R11)(AX*1), Y8, Y3
	VFMADD231PS 32(R8)(AX*1), Y9, Y4
	VFMADD231PS 32(R9)(AX*1), Y9, Y5
	VFMADD231PS 32(R10)(AX*1), Y9, Y6
	VFMADD231PS 32(R11)(AX*1), Y9, Y7
	ADDQ        $64, AX
	CMPQ        AX, DX
	JLE         d4_loop16

d4_tail:
	CMPQ        AX, CX
	JGE         d4_reduce
	VMOVUPS     (DI)(AX*1), Y8
	VFMADD231PS (R8)(AX*1), Y8, Y0
	VFMADD231PS (R9)(AX*1), Y8, Y1
	VFMADD231PS (R10)(AX*1), Y8, Y2
	VFMADD231PS (R11)(AX*1), Y8, Y3

d4_reduce:
	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	VADDPS       Y6, Y2, Y2
	VADDPS       Y7, Y3, Y3
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	MOVQ         out+32(FP), AX
	VMOVUPS      X0, (AX)
	VZEROUPPER
	RET

// func dot4x2AVX2(w *float32, stride int, x0, x1 *float32, n int, out0, out1 *[4]float32)
TEXT ·dot4x2AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), R8
	MOVQ stride+8(FP), R12
	SHLQ $2, R12
	LEAQ (R8)(R12*1), R9
	LEAQ (R9)(R12*1), R10
	LEAQ (R10)(R12*1), R11
	MOVQ x0+16(FP), SI
	MOVQ x1+24(FP), DI
	MOVQ n+32(FP), CX
	SHLQ $2, CX
	XORQ AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

d42_loop8:
	VMOVUPS     (SI)(AX*1), Y8
	VMOVUPS     (DI)(AX*1), Y9
	VMOVUPS     (R8)(AX*1), Y10
	VMOVUPS     (R9)(AX*1), Y11
	VMOVUPS     (R10)(AX*1), Y12
	VMOVUPS     (R11)(AX*1), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y4
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y11, Y9, Y5
	VFMADD231PS Y12, Y8, Y2
	VFMADD231PS Y12, Y9, Y6
	VFMADD231PS Y13, Y8, Y3
	VFMADD231PS Y13, Y9, Y7
	ADDQ        $32, AX
	CMPQ        AX, CX
	JL          d42_loop8

	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	MOVQ         out0+40(FP), AX
	VMOVUPS      X0, (AX)
	VHADDPS      Y5, Y4, Y4
	VHADDPS      Y7, Y6, Y6
	VHADDPS      Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPS       X5, X4, X4
	MOVQ         out1+48(FP), AX
	VMOVUPS      X4, (AX)
	VZEROUPPER
	RET

// func axpyAVX2(a float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y0
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	SHLQ         $2, CX
	XORQ         AX, AX

axpy_loop8:
	VMOVUPS     (DI)(AX*1), Y1
	VFMADD231PS (SI)(AX*1), Y0, Y1
	VMOVUPS     Y1, (DI)(AX*1)
	ADDQ        $32, AX
	CMPQ        AX, CX
	JL          axpy_loop8
	VZEROUPPER
	RET

// REDUCE4 sums each of four ZMM accumulators (with register numbers a..d,
// named through their Z and Y forms) and stores the four sums at (ptr).
#define REDUCE4(za, zb, zc, zd, ya, yb, yc, yd, xa, ptr) \
	VEXTRACTF64X4 $1, za, Y16; \
	VADDPS        Y16, ya, ya; \
	VEXTRACTF64X4 $1, zb, Y17; \
	VADDPS        Y17, yb, yb; \
	VEXTRACTF64X4 $1, zc, Y18; \
	VADDPS        Y18, yc, yc; \
	VEXTRACTF64X4 $1, zd, Y19; \
	VADDPS        Y19, yd, yd; \
	VHADDPS       yb, ya, ya; \
	VHADDPS       yd, yc, yc; \
	VHADDPS       yc, ya, ya; \
	VEXTRACTF32X4 $1, ya, X16; \
	VADDPS        X16, xa, xa; \
	VMOVUPS       xa, (ptr)

// func dot4x4AVX512(w *float32, stride int, x *float32, xstride int, n int, out *float32, ostride int)
//
// For rows r = 0..3 of w and inputs b = 0..3 of x, it sets
// out[b*ostride+r] to the dot product of the first n floats of row r
// (w[r*stride:]) and input b (x[b*xstride:]). n is a positive multiple of 16.
TEXT ·dot4x4AVX512(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), R8
	MOVQ stride+8(FP), R12
	SHLQ $2, R12
	LEAQ (R8)(R12*1), R9
	LEAQ (R9)(R12*1), R10
	LEAQ (R10)(R12*1), R11
	MOVQ x+16(FP), SI
	MOVQ xstride+24(FP), R12
	SHLQ $2, R12
	LEAQ (SI)(R12*1), DI
	LEAQ (DI)(R12*1), R13
	LEAQ (R13)(R12*1), R14
	MOVQ n+32(FP), CX
	SHLQ $2, CX
	XORQ AX, AX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

d44_loop16:
	VMOVUPS     (SI)(AX*1), Z16
	VMOVUPS     (DI)(AX*1), Z17
	VMOVUPS     (R13)(AX*1), Z18
	VMOVUPS     (R14)(AX*1), Z19
	VMOVUPS     (R8)(AX*1), Z20
	VMOVUPS     (R9)(AX*1), Z21
	VMOVUPS     (R10)(AX*1), Z22
	VMOVUPS     (R11)(AX*1), Z23
	VFMADD231PS Z20, Z16, Z0
	VFMADD231PS Z21, Z16, Z1
	VFMADD231PS Z22, Z16, Z2
	VFMADD231PS Z23, Z16, Z3
	VFMADD231PS Z20, Z17, Z4
	VFMADD231PS Z21, Z17, Z5
	VFMADD231PS Z22, Z17, Z6
	VFMADD231PS Z23, Z17, Z7
	VFMADD231PS Z20, Z18, Z8
	VFMADD231PS Z21, Z18, Z9
	VFMADD231PS Z22, Z18, Z10
	VFMADD231PS Z23, Z18, Z11
	VFMADD231PS Z20, Z19, Z12
	VFMADD231PS Z21, Z19, Z13
	VFMADD231PS Z22, Z19, Z14
	VFMADD231PS Z23, Z19, Z15
	ADDQ        $64, AX
	CMPQ        AX, CX
	JL          d44_loop16

	MOVQ out+40(FP), DX
	MOVQ ostride+48(FP), R12
	SHLQ $2, R12
	REDUCE4(Z0, Z1, Z2, Z3, Y0, Y1, Y2, Y3, X0, DX)
	ADDQ R12, DX
	REDUCE4(Z4, Z5, Z6, Z7, Y4, Y5, Y6, Y7, X4, DX)
	ADDQ R12, DX
	REDUCE4(Z8, Z9, Z10, Z11, Y8, Y9, Y10, Y11, X8, DX)
	ADDQ R12, DX
	REDUCE4(Z12, Z13, Z14, Z15, Y12, Y13, Y14, Y15, X12, DX)
	VZEROUPPER
	RET

// func matvec4AVX2(w *float32, k int, x *float32, n int, out *float32, blocks int)
//
// For each of blocks blocks of four consecutive rows of w (rows of k
// floats), it sets out[4*blk+r] to the dot product of the first n floats of
// row r of the block and x. n is a positive multiple of 8.
TEXT ·matvec4AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), R8
	MOVQ k+8(FP), R12
	SHLQ $2, R12
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	SHLQ $2, CX
	MOVQ out+32(FP), BX
	MOVQ blocks+40(FP), R15
	MOVQ CX, DX
	SUBQ $64, DX

mv_block:
	LEAQ   (R8)(R12*1), R9
	LEAQ   (R9)(R12*1), R10
	LEAQ   (R10)(R12*1), R11
	XORQ   AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	CMPQ   DX, $0
	JL     mv_tail

mv_loop16:
	VMOVUPS     (DI)(AX*1), Y8
	VMOVUPS     32(DI)(AX*1), Y9
	VFMADD231PS (R8)(AX*1), Y8, Y0
	VFMADD231PS (R9)(AX*1), Y8, Y1
	VFMADD231PS (R10)(AX*1), Y8, Y2
	VFMADD231PS (R11)(AX*1), Y8, Y3
	VFMADD231PS 32(R8)(AX*1), Y9, Y4
	VFMADD231PS 32(R9)(AX*1), Y9, Y5
	VFMADD231PS 32(R10)(AX*1), Y9, Y6
	VFMADD231PS 32(R11)(AX*1), Y9, Y7
	ADDQ        $64, AX
	CMPQ        AX, DX
	JLE         mv_loop16

mv_tail:
	CMPQ        AX, CX
	JGE         mv_reduce
	VMOVUPS     (DI)(AX*1), Y8
	VFMADD231PS (R8)(AX*1), Y8, Y0
	VFMADD231PS (R9)(AX*1), Y8, Y1
	VFMADD231PS (R10)(AX*1), Y8, Y2
	VFMADD231PS (R11)(AX*1), Y8, Y3

mv_reduce:
	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	VADDPS       Y6, Y2, Y2
	VADDPS       Y7, Y3, Y3
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVUPS      X0, (BX)
	ADDQ         $16, BX
	LEAQ         (R11)(R12*1), R8
	DECQ         R15
	JNZ          mv_block
	VZEROUPPER
	RET

// func axpy4AVX2(a *[4]float32, v *float32, stride int, y *float32, n int)
//
// It adds a[0]*v[0:n] + a[1]*v[stride:][:n] + a[2]*v[2*stride:][:n] +
// a[3]*v[3*stride:][:n] to y[:n]. n is a positive multiple of 8.
TEXT ·axpy4AVX2(SB), NOSPLIT, $0-40
	MOVQ         a+0(FP), AX
	VBROADCASTSS (AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	MOVQ         v+8(FP), R8
	MOVQ         stride+16(FP), R12
	SHLQ         $2, R12
	LEAQ         (R8)(R12*1), R9
	LEAQ         (R9)(R12*1), R10
	LEAQ         (R10)(R12*1), R11
	MOVQ         y+24(FP), DI
	MOVQ         n+32(FP), CX
	SHLQ         $2, CX
	XORQ         AX, AX

axpy4_loop8:
	VMOVUPS     (DI)(AX*1), Y4
	VMULPS      (R8)(AX*1), Y0, Y5
	VFMADD231PS (R9)(AX*1), Y1, Y4
	VFMADD231PS (R10)(AX*1), Y2, Y5
	VFMADD231PS (R11)(AX*1), Y3, Y4
	VADDPS      Y5, Y4, Y4
	VMOVUPS     Y4, (DI)(AX*1)
	ADDQ        $32, AX
	CMPQ        AX, CX
	JL          axpy4_loop8
	VZEROUPPER
	RET

// func matvec4AVX512(w *float32, k int, x *float32, n int, out *float32, blocks int)
//
// matvec4AVX2 with 512-bit vectors: n is a positive multiple of 16.
TEXT ·matvec4AVX512(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), R8
	MOVQ k+8(FP), R12
	SHLQ $2, R12
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	SHLQ $2, CX
	MOVQ out+32(FP), BX
	MOVQ blocks+40(FP), R15
	MOVQ CX, DX
	SUBQ $128, DX

mv5_block:
	LEAQ   (R8)(R12*1), R9
	LEAQ   (R9)(R12*1), R10
	LEAQ   (R10)(R12*1), R11
	XORQ   AX, AX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	CMPQ   DX, $0
	JL     mv5_tail

mv5_loop32:
	VMOVUPS     (DI)(AX*1), Z8
	VMOVUPS     64(DI)(AX*1), Z9
	VFMADD231PS (R8)(AX*1), Z8, Z0
	VFMADD231PS (R9)(AX*1), Z8, Z1
	VFMADD231PS (R10)(AX*1), Z8, Z2
	VFMADD231PS (R11)(AX*1), Z8, Z3
	VFMADD231PS 64(R8)(AX*1), Z9, Z4
	VFMADD231PS 64(R9)(AX*1), Z9, Z5
	VFMADD231PS 64(R10)(AX*1), Z9, Z6
	VFMADD231PS 64(R11)(AX*1), Z9, Z7
	ADDQ        $128, AX
	CMPQ        AX, DX
	JLE         mv5_loop32

mv5_tail:
	CMPQ        AX, CX
	JGE         mv5_reduce
	VMOVUPS     (DI)(AX*1), Z8
	VFMADD231PS (R8)(AX*1), Z8, Z0
	VFMADD231PS (R9)(AX*1), Z8, Z1
	VFMADD231PS (R10)(AX*1), Z8, Z2
	VFMADD231PS (R11)(AX*1), Z8, Z3

mv5_reduce:
	VADDPS        Z4, Z0, Z0
	VADDPS        Z5, Z1, Z1
	VADDPS        Z6, Z2, Z2
	VADDPS        Z7, Z3, Z3
	VEXTRACTF64X4 $1, Z0, Y16
	VADDPS        Y16, Y0, Y0
	VEXTRACTF64X4 $1, Z1, Y17
	VADDPS        Y17, Y1, Y1
	VEXTRACTF64X4 $1, Z2, Y18
	VADDPS        Y18, Y2, Y2
	VEXTRACTF64X4 $1, Z3, Y19
	VADDPS        Y19, Y3, Y3
	VHADDPS       Y1, Y0, Y0
	VHADDPS       Y3, Y2, Y2
	VHADDPS       Y2, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VMOVUPS       X0, (BX)
	ADDQ          $16, BX
	LEAQ          (R11)(R12*1), R8
	DECQ          R15
	JNZ           mv5_block
	VZEROUPPER
	RET
