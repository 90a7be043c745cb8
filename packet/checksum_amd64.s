//go:build amd64 && !purego

#include "textflag.h"

// func addWords(s uint64, b []byte) uint64
TEXT ·addWords(SB), NOSPLIT, $0-40
	MOVQ s+0(FP), AX
	MOVQ b_base+8(FP), SI
	MOVQ b_len+16(FP), CX
	MOVQ CX, DX
	SHRQ $6, DX // 64-byte blocks
	ANDQ $63, CX
	SHRQ $3, CX // then 8-byte words
	TESTQ DX, DX // clears the carry
	JZ words

blocks:
	// DECQ and LEAQ leave the carry alone: it runs from block to block.
	ADCQ 0(SI), AX
	ADCQ 8(SI), AX
	ADCQ 16(SI), AX
	ADCQ 24(SI), AX
	ADCQ 32(SI), AX
	ADCQ 40(SI), AX
	ADCQ 48(SI), AX
	ADCQ 56(SI), AX
	LEAQ 64(SI), SI
	DECQ DX
	JNZ blocks
	// The last carry, and the one adding it may make (AX was all ones).
	ADCQ $0, AX
	ADCQ $0, AX

words:
	TESTQ CX, CX
	JZ done

word:
	ADCQ 0(SI), AX
	LEAQ 8(SI), SI
	DECQ CX
	JNZ word
	ADCQ $0, AX
	ADCQ $0, AX

done:
	MOVQ AX, ret+32(FP)
	RET
