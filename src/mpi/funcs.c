/* SPDX-License-Identifier: MIT */
/*
 * funcs: module tables and function names across ranks (see funcs.h). The
 * packed table is u32 count, then per module u32 id_len and its id bytes
 * padded to PP_BUILD_ID_MAX.
 */
#define _GNU_SOURCE
#include "funcs.h"

#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

static void read_build_id(struct pp_module *m, const struct dl_phdr_info *info, const ElfW(Phdr) *ph)
{
    const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
    const unsigned char *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end && !m->id_len) {
        const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
        const unsigned char *name = p + sizeof *nh, *desc = name + ((nh->n_namesz + 3) & ~3u);
        if (desc + nh->n_descsz > end)
            break;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
            nh->n_descsz <= PP_BUILD_ID_MAX) {
            memcpy(m->id, desc, nh->n_descsz);
            m->id_len = nh->n_descsz;
        }
        p = desc + ((nh->n_descsz + 3) & ~3u);
    }
}

static int add_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct pp_modtab *t = data;
    struct pp_module *grown = realloc(t->mod, (t->n + 1) * sizeof *t->mod);
    if (!grown)
        return 1;
    t->mod = grown;
    struct pp_module *m = &t->mod[t->n++];
    memset(m, 0, sizeof *m);
    m->bias = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && m->nexec < PP_EXEC_MAX) {
            m->exec_lo[m->nexec] = info->dlpi_addr + ph->p_vaddr;
            m->exec_hi[m->nexec++] = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        } else if (ph->p_type == PT_NOTE) {
            read_build_id(m, info, ph);
        }
    }
    return 0;
}

int pp__modtab_load(struct pp_modtab *t)
{
    memset(t, 0, sizeof *t);
    if (dl_iterate_phdr(add_module, t) != 0) {
        pp__modtab_free(t);
        return PP_ENOMEM;
    }
    return PP_OK;
}

void pp__modtab_free(struct pp_modtab *t)
{
    free(t->mod);
    free(t->remote);
    memset(t, 0, sizeof *t);
}

#define PACKED_ENTRY (4 + PP_BUILD_ID_MAX)

void *pp__modtab_pack(const struct pp_modtab *t, size_t *len)
{
    *len = 4 + (size_t)t->n * PACKED_ENTRY;
    unsigned char *buf = calloc(1, *len);
    if (!buf)
        return NULL;
    memcpy(buf, &t->n, 4);
    for (uint32_t i = 0; i < t->n; i++) {
        memcpy(buf + 4 + (size_t)i * PACKED_ENTRY, &t->mod[i].id_len, 4);
        memcpy(buf + 8 + (size_t)i * PACKED_ENTRY, t->mod[i].id, PP_BUILD_ID_MAX);
    }
    return buf;
}

int pp__modtab_match(struct pp_modtab *t, const void *packed, size_t len)
{
    const unsigned char *p = packed;
    uint32_t n;
    if (len < 4)
        return 0;
    memcpy(&n, p, 4);
    if (n > (len - 4) / PACKED_ENTRY)
        return 0;
    free(t->remote);
    t->remote = malloc((n ? n : 1) * sizeof *t->remote);
    if (!t->remote)
        return -1;
    t->nremote = n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id_len;
        memcpy(&id_len, p + 4 + (size_t)i * PACKED_ENTRY, 4);
        const unsigned char *id = p + 8 + (size_t)i * PACKED_ENTRY;
        t->remote[i] = -1;
        for (uint32_t j = 0; j < t->n && id_len && id_len <= PP_BUILD_ID_MAX; j++)
            if (t->mod[j].id_len == id_len && memcmp(t->mod[j].id, id, id_len) == 0) {
                t->remote[i] = (int32_t)j;
                break;
            }
    }
    return n > 0 && t->n > 0 && t->remote[0] == 0;
}

static bool in_exec(const struct pp_module *m, uintptr_t a)
{
    for (uint32_t k = 0; k < m->nexec; k++)
        if (a >= m->exec_lo[k] && a < m->exec_hi[k])
            return true;
    return false;
}

int pp__fn_encode(const struct pp_modtab *t, pp_fn fn, uint32_t *module, uint64_t *off)
{
    uintptr_t a = (uintptr_t)fn;
    for (uint32_t i = 0; i < t->n; i++)
        if (t->mod[i].id_len && in_exec(&t->mod[i], a)) {
            *module = i;
            *off = a - t->mod[i].bias;
            return PP_OK;
        }
    return PP_EINVAL;
}

pp_fn pp__fn_decode(const struct pp_modtab *t, uint32_t module, uint64_t off)
{
    if (module >= t->nremote || t->remote[module] < 0)
        return NULL;
    const struct pp_module *m = &t->mod[t->remote[module]];
    uintptr_t a = m->bias + (uintptr_t)off;
    return in_exec(m, a) ? (pp_fn)a : NULL;
}
