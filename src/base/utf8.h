/* SPDX-License-Identifier: MIT */
#ifndef VMON_BASE_UTF8_H
#define VMON_BASE_UTF8_H

#include <stddef.h>

/*
 * UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates (U+D800 to
 * U+DFFF), nothing past U+10FFFF. JSON text is UTF-8 (RFC 8259 section 8.1).
 */

/* Bytes of the whole character at p (1 to 4, at most avail), or 0 when p starts none. */
size_t utf8_char_len(const char *p, size_t avail);

/*
 * Replaces, in place, each byte of the NUL-terminated text that is not part
 * of a whole character with '?': for messages that quote a client's bytes,
 * or that were cut short inside a character, before they go out as JSON.
 * Returns how many bytes it replaced.
 */
size_t utf8_repair(char *text);

#endif
