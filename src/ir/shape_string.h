/* Shared by the string ops' shape functions and kernels (ops_string.def). */
#ifndef KILN_IR_SHAPE_STRING_H
#define KILN_IR_SHAPE_STRING_H

#include "ir/tview.h"

/*
 * Translates an RE2 pattern (RegexFullMatch) into a POSIX extended regular expression
 * (regcomp with REG_EXTENDED) that matches a whole string exactly when the RE2 pattern
 * fully matches it: anchored as ^(...)$, RE2 escapes (\d \w \s \b \. \xHH ...) and
 * classes ([\w.-]) rewritten, non-capturing and named groups made plain, lazy quantifiers
 * made greedy (the same strings match in full). Where the process's locale is single-byte
 * (the C locale), `.`, negated classes and non-ASCII literals are rewritten to match whole
 * UTF-8 characters, as RE2 does. *icase is set for a leading (?i).
 *
 * RE2 syntax with no POSIX equivalent (Unicode classes \p, \Q..\E, flags other than a
 * leading (?i), lookarounds, non-ASCII members of classes) is KILN_ERR_UNSUPPORTED with a
 * message naming it. *out is malloc'ed.
 */
kiln_status kiln_regex_translate(const kiln_node *node, const char *pattern, size_t len, char **out,
                                 int *icase);

#endif
