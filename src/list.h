/* SPDX-License-Identifier: MIT */
/*
 * list.h: intrusive doubly linked lists, as the kernel's list.h and libuv's
 * queue.h. A list is a sentinel link; an element carries one link per list it
 * can be on (never one link for two lists), and a link that is on no list
 * points at itself, so whether an element is listed is a question the link
 * answers. Everything here is inline and takes no lock: the owner of the
 * list serialises it.
 */
#ifndef PP_LIST_H
#define PP_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct pp_link {
    struct pp_link *prev, *next;
};

#define pp__container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void pp__link_init(struct pp_link *l)
{
    l->prev = l->next = l;
}

static inline bool pp__list_empty(const struct pp_link *list)
{
    return list->next == list;
}

/* Whether an element's link is on a list (links start initialised). */
static inline bool pp__linked(const struct pp_link *l)
{
    return l->next != l;
}

static inline void pp__link_between(struct pp_link *l, struct pp_link *prev, struct pp_link *next)
{
    l->prev = prev;
    l->next = next;
    prev->next = l;
    next->prev = l;
}

static inline void pp__list_push_back(struct pp_link *list, struct pp_link *l)
{
    pp__link_between(l, list->prev, list);
}

static inline void pp__list_push_front(struct pp_link *list, struct pp_link *l)
{
    pp__link_between(l, list, list->next);
}

static inline void pp__list_remove(struct pp_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    pp__link_init(l);
}

/* The first element's link, or NULL for an empty list. */
static inline struct pp_link *pp__list_first(const struct pp_link *list)
{
    return pp__list_empty(list) ? NULL : list->next;
}

#endif
