/* json_format: prefixes of the enforced string formats (see json_format.h). Each check reads
 * the whole prefix again (at most 35 bytes), which keeps it a plain function of the text. */
#include "text/json_format.h"

#include <string.h>

bn_json_format bn_json_format_from_name(const char *name) {
    static const char *const names[] = {"date", "time", "date-time", "uuid"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) return (bn_json_format)(i + 1);
    return BN_JSON_FORMAT_NONE;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* Whether the len-digit field at t[at, at + len), as far as t[0, n) holds it, can be a number
 * in [lo, hi]. */
static bool field_ok(const char *t, size_t n, size_t at, size_t len, int lo, int hi) {
    int v = 0, scale = 1;
    size_t k = 0;
    for (; k < len && at + k < n; k++) {
        if (!is_digit(t[at + k])) return false;
        v = v * 10 + (t[at + k] - '0');
    }
    for (size_t r = k; r < len; r++) scale *= 10;
    return v * scale <= hi && (v + 1) * scale - 1 >= lo;
}

static bool char_ok(const char *t, size_t n, size_t at, char c) { return n <= at || t[at] == c; }

static int number_at(const char *t, size_t len) {
    int v = 0;
    for (size_t i = 0; i < len; i++) v = v * 10 + (t[i] - '0');
    return v;
}

static int days_in_month(int year, int month) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* YYYY-MM-DD */
static bool date_prefix(const char *t, size_t n, bool *whole) {
    *whole = n == 10;
    if (n > 10 || !field_ok(t, n, 0, 4, 0, 9999) || !char_ok(t, n, 4, '-') || !field_ok(t, n, 5, 2, 1, 12) || !char_ok(t, n, 7, '-'))
        return false;
    int last = n >= 7 ? days_in_month(number_at(t, 4), number_at(t + 5, 2)) : 31;
    return field_ok(t, n, 8, 2, 1, last);
}

/* HH:MM:SS[.F{1,9}](Z|+HH:MM|-HH:MM) */
static bool time_prefix(const char *t, size_t n, bool *whole) {
    *whole = false;
    if (!field_ok(t, n, 0, 2, 0, 23) || !char_ok(t, n, 2, ':') || !field_ok(t, n, 3, 2, 0, 59) || !char_ok(t, n, 5, ':') ||
        !field_ok(t, n, 6, 2, 0, 59))
        return false;
    size_t p = 8;
    if (n <= p) return true;
    if (t[p] == '.') {
        size_t first = ++p;
        while (p < n && is_digit(t[p])) p++;
        if (p - first > 9) return false;
        if (p == n) return true;
        if (p == first) return false;
    }
    if (t[p] == 'Z') return (*whole = p + 1 == n);
    if (t[p] != '+' && t[p] != '-') return false;
    p++;
    if (n > p + 5 || !field_ok(t, n, p, 2, 0, 23) || !char_ok(t, n, p + 2, ':') || !field_ok(t, n, p + 3, 2, 0, 59)) return false;
    *whole = n == p + 5;
    return true;
}

static bool uuid_prefix(const char *t, size_t n, bool *whole) {
    *whole = n == 36;
    if (n > 36) return false;
    for (size_t i = 0; i < n; i++)
        if (i == 8 || i == 13 || i == 18 || i == 23 ? t[i] != '-' : !is_hex(t[i])) return false;
    return true;
}

bool bn_json_format_prefix(bn_json_format f, const char *t, size_t n, bool *whole) {
    bool date_whole;
    *whole = false;
    switch (f) {
    case BN_JSON_FORMAT_DATE: return date_prefix(t, n, whole);
    case BN_JSON_FORMAT_TIME: return time_prefix(t, n, whole);
    case BN_JSON_FORMAT_DATE_TIME:
        if (!date_prefix(t, n < 10 ? n : 10, &date_whole)) return false;
        if (n <= 10) return true;
        return t[10] == 'T' && time_prefix(t + 11, n - 11, whole);
    case BN_JSON_FORMAT_UUID: return uuid_prefix(t, n, whole);
    default: *whole = true; return true;
    }
}
