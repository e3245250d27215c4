/* SPDX-License-Identifier: MIT */
/*
 * mrtd.c - the TD measurement register: one running SHA-384 (libcrypto),
 * started by MNG.INIT, extended by PAGE.ADD and MR.EXTEND in 128-byte
 * blocks, finished by MR.FINALIZE (module-abi.md section 8).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

int mrtd_start(struct tdx_td *td)
{
	mrtd_free(td);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		fprintf(stderr, "tdxsim: SHA-384 unavailable\n");
		return -1;
	}
	td->mrtd_ctx = ctx;
	td->mrtd_final = false;
	return 0;
}

/* One 128-byte block: @name zero padded to 16 bytes, @gpa LE at 16..23. */
void mrtd_extend_block(struct tdx_td *td, const char *name, uint64_t gpa)
{
	uint8_t block[128] = { 0 };
	size_t n = strlen(name);
	memcpy(block, name, n < 16 ? n : 16);
	for (int i = 0; i < 8; i++)
		block[16 + i] = (uint8_t)(gpa >> (8 * i));
	mrtd_extend_data(td, block, sizeof(block));
}

void mrtd_extend_data(struct tdx_td *td, const void *data, size_t len)
{
	if (EVP_DigestUpdate(td->mrtd_ctx, data, len) != 1)
		abort();	/* libcrypto cannot fail here short of memory corruption */
}

void mrtd_finalize(struct tdx_td *td)
{
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(td->mrtd_ctx, td->mrtd, &n) != 1 || n != TDX_MRTD_BYTES)
		abort();
	td->mrtd_final = true;
	/* the hash is done: nothing outside the world's heap (simheap.h) stays
	 * alive with the TD, so a snapshot of that heap holds all of it */
	mrtd_free(td);
}

void mrtd_free(struct tdx_td *td)
{
	EVP_MD_CTX_free(td->mrtd_ctx);
	td->mrtd_ctx = NULL;
}
