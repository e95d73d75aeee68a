/* SPDX-License-Identifier: MIT */
#include "base/utf8.h"

size_t utf8_char_len(const char *p, size_t avail)
{
	const unsigned char *b = (const unsigned char *)p;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (avail == 0)
		return 0;
	if (b[0] < 0x80)
		return 1;
	if (b[0] >= 0xc2 && b[0] <= 0xdf) {
		n = 2;
	} else if (b[0] >= 0xe0 && b[0] <= 0xef) {
		n = 3;
		lo = b[0] == 0xe0 ? 0xa0 : 0x80;   /* shorter forms are overlong */
		hi = b[0] == 0xed ? 0x9f : 0xbf;   /* ED A0..BF: surrogates */
	} else if (b[0] >= 0xf0 && b[0] <= 0xf4) {
		n = 4;
		lo = b[0] == 0xf0 ? 0x90 : 0x80;
		hi = b[0] == 0xf4 ? 0x8f : 0xbf;   /* F4 90.. is past U+10FFFF */
	} else {
		return 0;   /* a continuation byte, C0/C1 (always overlong), F5..FF */
	}
	if (avail < n || b[1] < lo || b[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (b[i] < 0x80 || b[i] > 0xbf)
			return 0;
	return n;
}

size_t utf8_repair(char *text)
{
	size_t replaced = 0, left = 0;
	char *p = text;

	while (*p)
		p++;
	left = (size_t)(p - text);
	for (p = text; *p;) {
		size_t n = utf8_char_len(p, left);
		if (n == 0) {
			*p = '?';
			n = 1;
			replaced++;
		}
		p += n;
		left -= n;
	}
	return replaced;
}
