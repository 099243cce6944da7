//go:build !purego

#include "textflag.h"

// The compact blocks' layout (compact.go; walk_amd64.go checks it at
// compile time): threshold [8][64]float64 at 0, column [8][64]uint8 at
// 4096, leaf [8][64]float64 at 4608, 8704 bytes a block.

// STEP moves tree j from node R to its child: R = 2R+2 when the column's
// value is at least the threshold, else 2R+1 (UCOMISD sets the carry for
// "below", SBBQ takes it off). The extended row holds no NaN.
#define STEP(j, R) \
	MOVBQZX (4096+(j)*64)(SI)(R*1), CX \
	MOVSD   (DI)(CX*8), X0 \
	UCOMISD ((j)*512)(SI)(R*8), X0 \
	LEAQ    2(R)(R*1), R \
	SBBQ    $0, R

// LEAF64 adds tree j's leaf R (counted from the first leaf) to X1;
// LEAF32 does it in float32.
#define LEAF64(j, R) \
	ADDSD (4608+(j)*512)(SI)(R*8), X1

#define LEAF32(j, R) \
	CVTSD2SS (4608+(j)*512)(SI)(R*8), X2 \
	ADDSS    X2, X1

// func walkCompactAsm(blocks *compactBlock, n, depth, first int, ext *[128]float64, z float64, sum32 bool) float64
TEXT ·walkCompactAsm(SB), NOSPLIT, $0-64
	MOVQ  blocks+0(FP), SI
	MOVQ  ext+32(FP), DI
	MOVSD z+40(FP), X1
	CMPB  sum32+48(FP), $0
	JEQ   start
	CVTSD2SS X1, X1

start:
	// BP, the frame pointer, counts the blocks: every other free register
	// holds a walk. It is restored before returning; Go's unwinders never
	// stop inside this leaf, but an external frame-pointer profiler (perf
	// -g) sees a broken stack for samples that land here.
	PUSHQ BP
	MOVQ  n+8(FP), BP

block:
	XORL  AX, AX
	XORL  BX, BX
	XORL  R8, R8
	XORL  R9, R9
	XORL  R10, R10
	XORL  R11, R11
	XORL  R12, R12
	XORL  R13, R13
	MOVQ  depth+16(FP), DX
	TESTQ DX, DX
	JZ    leaves

level:
	STEP(0, AX)
	STEP(1, BX)
	STEP(2, R8)
	STEP(3, R9)
	STEP(4, R10)
	STEP(5, R11)
	STEP(6, R12)
	STEP(7, R13)
	DECQ DX
	JNZ  level

leaves:
	MOVQ first+24(FP), DX
	SUBQ DX, AX
	SUBQ DX, BX
	SUBQ DX, R8
	SUBQ DX, R9
	SUBQ DX, R10
	SUBQ DX, R11
	SUBQ DX, R12
	SUBQ DX, R13
	CMPB sum32+48(FP), $0
	JNE  leaves32
	LEAF64(0, AX)
	LEAF64(1, BX)
	LEAF64(2, R8)
	LEAF64(3, R9)
	LEAF64(4, R10)
	LEAF64(5, R11)
	LEAF64(6, R12)
	LEAF64(7, R13)
	JMP  next

leaves32:
	LEAF32(0, AX)
	LEAF32(1, BX)
	LEAF32(2, R8)
	LEAF32(3, R9)
	LEAF32(4, R10)
	LEAF32(5, R11)
	LEAF32(6, R12)
	LEAF32(7, R13)

next:
	ADDQ $8704, SI
	DECQ BP
	JNZ  block

	POPQ  BP
	CMPB  sum32+48(FP), $0
	JEQ   done
	CVTSS2SD X1, X1

done:
	MOVSD X1, ret+56(FP)
	RET
