// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for the rzs Rust driver, in the style of the kernel's rust/helpers/:
 * exported wrappers around what is static inline, a macro, or outside 6.12's
 * bindings_helper.h (zsmalloc, the swap event API, blk feature and status
 * values). Nothing here holds logic.
 *
 * Why wrappers rather than Rust `extern` declarations of the kernel's functions
 * and Rust copies of its constants: here the C compiler checks every call and
 * every value against the kernel's own headers, so a kernel that changes one
 * fails to build rzs.ko instead of running it with a stale prototype or bit.
 * The Rust side declares these rzs_* functions (src/sys/ffi.rs), whose
 * prototypes are listed once, below.
 *
 * The exception: the exported kernel functions that the I/O path calls once or
 * twice for every page (zsmalloc's allocation, mapping and size), which the Rust
 * side calls directly, sparing a wrapper's call and frame each time. Their
 * prototypes as src/sys/ffi.rs declares them are checked here instead, by static
 * assertions against the kernel's own (see "called directly" below), so a kernel
 * that changes one still fails to build rzs.ko.
 */

#include <linux/bio.h>
#include <linux/blk_types.h>
#include <linux/blkdev.h>
#include <linux/cacheflush.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/srcu.h>
#include <linux/string.h>
#include <linux/swap.h>
#include <linux/workqueue.h>
#include <linux/zsmalloc.h>

/* --- prototypes: the Rust declarations in src/sys/ffi.rs mirror these */
unsigned int rzs_raw_smp_processor_id(void);
unsigned int rzs_nr_cpu_ids(void);
void rzs_cond_resched(void);
struct page *rzs_nth_page(struct page *page, unsigned long n);
void rzs_copy_from_page(void *dst, struct page *page, unsigned int off, size_t len);
void rzs_copy_to_page(struct page *page, unsigned int off, const void *src, size_t len);
void rzs_copy_racy(void *dst, const void *src, size_t len);
void rzs_fill_page(struct page *page, unsigned int off, size_t len, unsigned long word);
void *rzs_kmap_page_being_filled(struct page *page);
void rzs_kunmap_filled(struct page *page, void *addr);
void *rzs_kmap_local_page(struct page *page);
void rzs_kunmap_local(void *addr);
struct srcu_struct *rzs_srcu_alloc(void);
void rzs_srcu_free(struct srcu_struct *ssp);
int rzs_srcu_read_lock(struct srcu_struct *ssp);
void rzs_srcu_read_unlock(struct srcu_struct *ssp, int idx);
void rzs_srcu_synchronize(struct srcu_struct *ssp);
u32 rzs_blk_feat_synchronous(void);
u32 rzs_blk_feat_stable_writes(void);
u8 rzs_blk_sts(int which);
struct zs_pool *rzs_zs_create_pool(const char *name);
void rzs_zs_destroy_pool(struct zs_pool *pool);
size_t rzs_zs_huge_class_size(struct zs_pool *pool);
unsigned long rzs_zs_compact(struct zs_pool *pool);
unsigned long rzs_totalram_pages(void);
gfp_t rzs_gfp_noio_obj(void);
struct file *rzs_backing_open(const char *path, void *holder);
void rzs_backing_close(struct file *file);
u64 rzs_backing_bytes(struct file *file);
int rzs_backing_rw(struct file *file, u64 sector, struct page **pages, unsigned int nr, bool write);
int rzs_io_wq_create(void);
void rzs_io_wq_destroy(void);
void rzs_dwork_init(struct delayed_work *dw, work_func_t fn);
void rzs_dwork_mod(struct delayed_work *dw, unsigned int ms);
void rzs_dwork_cancel_sync(struct delayed_work *dw);

/* --- CPUs and scheduling */

/* A hint only: the caller may migrate right after. */
unsigned int rzs_raw_smp_processor_id(void)
{
	return raw_smp_processor_id();
}

unsigned int rzs_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

void rzs_cond_resched(void)
{
	cond_resched();
}

/* --- bio pages */

/* The n-th page after @page in a physically contiguous range (any memory model). */
struct page *rzs_nth_page(struct page *page, unsigned long n)
{
	return nth_page(page, n);
}

/*
 * Copies between a bio page and rzs' own memory. The bio page may be user memory
 * that another thread writes at the same time (O_DIRECT); the Rust side never
 * forms a reference to it, and memcpy (or copy_page) gives whatever bytes were
 * there.
 * flush_dcache_page() after writing into the page, as brd and zram do (a no-op
 * on x86, needed where the data cache can alias, e.g. some arm configurations).
 */
void rzs_copy_from_page(void *dst, struct page *page, unsigned int off, size_t len)
{
	void *src = kmap_local_page(page);

	memcpy(dst, src + off, len);
	kunmap_local(src);
}

/*
 * memcpy() from memory that another thread may write meanwhile (an O_DIRECT write's
 * user page, mapped by the Rust side, stored raw): the racing reads are made here,
 * in C, as in rzs_copy_from_page(), and the Rust side forms no reference to it.
 */
void rzs_copy_racy(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

/*
 * A whole page from a page-aligned source (a raw object) goes through copy_page(),
 * as zram reads its huge pages: "rep movsq" or an unrolled loop on x86, where
 * memcpy() is a loop of 32 bytes a step on CPUs without FSRM. Not under KASAN or
 * KMSAN: copy_page() is assembly that they do not see (KMSAN would then take the
 * bio page for uninitialised: copy_highpage() adds kmsan_copy_page_meta() for it).
 * Only this direction, as zram: arm64's copy_page() stores non-temporally, a poor
 * fit for a copy into a workspace that is compressed next.
 */
void rzs_copy_to_page(struct page *page, unsigned int off, const void *src, size_t len)
{
	void *dst = kmap_local_page(page);

	if (!IS_ENABLED(CONFIG_KASAN) && !IS_ENABLED(CONFIG_KMSAN) && off == 0 &&
	    len == PAGE_SIZE && IS_ALIGNED((unsigned long)src, PAGE_SIZE))
		copy_page(dst, (void *)src); /* copy_page() takes no const */
	else
		memcpy(dst + off, src, len);
	kunmap_local(dst);
	flush_dcache_page(page);
}

/*
 * Fills @len bytes of @page from @off with @word repeated (a same-filled page read
 * straight into the bio, as zram's zram_fill_page does): memset_l when the piece's
 * offset and length are word multiples (every bio of 512-byte units), else byte
 * by byte.
 * The caller rotates @word so that the pattern continues across pieces.
 */
void rzs_fill_page(struct page *page, unsigned int off, size_t len, unsigned long word)
{
	u8 *dst = kmap_local_page(page);
	size_t i;

	if (IS_ALIGNED(off | len, sizeof(word))) {
		memset_l((unsigned long *)(dst + off), word, len / sizeof(word));
	} else {
		for (i = 0; i < len; i++)
			dst[off + i] = ((const u8 *)&word)[i % sizeof(word)];
	}
	kunmap_local(dst);
	flush_dcache_page(page);
}

/*
 * Maps @page for the read that fills it, if it is a page only that read may touch:
 * its folio is locked, not uptodate, not mapped into any process and has no
 * private data, as a swap-in folio and a page-cache folio read by
 * mpage_readahead/iomap are until the read completes. NULL otherwise: O_DIRECT
 * user pages are uptodate; a folio with buffer_heads may be under a buffer read
 * (sb_bread, bh_read) whose issuer locks only the buffer, while someone else holds
 * the folio lock and writes into it (a buffered write to the block device). See
 * BioData::with_filled_page in src/sys/blk.rs.
 */
void *rzs_kmap_page_being_filled(struct page *page)
{
	struct folio *folio = page_folio(page);

	/* SLUB's slab_lock() takes the same bit on slab pages: not a folio under read. */
	if (folio_test_slab(folio) || !folio_test_locked(folio) ||
	    folio_test_uptodate(folio) || folio_mapped(folio) ||
	    folio_test_private(folio))
		return NULL;
	return kmap_local_page(page);
}

/* Ends rzs_kmap_page_being_filled(): unmap, then flush_dcache_page as copy_to_page. */
void rzs_kunmap_filled(struct page *page, void *addr)
{
	kunmap_local(addr);
	flush_dcache_page(page);
}

void *rzs_kmap_local_page(struct page *page)
{
	return kmap_local_page(page);
}

void rzs_kunmap_local(void *addr)
{
	kunmap_local(addr);
}

/* --- SRCU (src/sys/gate.rs): allocated here so Rust never moves one */

struct srcu_struct *rzs_srcu_alloc(void)
{
	struct srcu_struct *ssp = kzalloc(sizeof(*ssp), GFP_KERNEL);

	if (ssp && init_srcu_struct(ssp)) {
		kfree(ssp);
		ssp = NULL;
	}
	return ssp;
}

void rzs_srcu_free(struct srcu_struct *ssp)
{
	cleanup_srcu_struct(ssp);
	kfree(ssp);
}

int rzs_srcu_read_lock(struct srcu_struct *ssp)
{
	return srcu_read_lock(ssp);
}

void rzs_srcu_read_unlock(struct srcu_struct *ssp, int idx)
{
	srcu_read_unlock(ssp, idx);
}

void rzs_srcu_synchronize(struct srcu_struct *ssp)
{
	synchronize_srcu(ssp);
}

/* --- block layer values (casts in C: not in the generated bindings) */

u32 rzs_blk_feat_synchronous(void)
{
	return (__force u32)BLK_FEAT_SYNCHRONOUS;
}

u32 rzs_blk_feat_stable_writes(void)
{
	return (__force u32)BLK_FEAT_STABLE_WRITES;
}

/* The status codes rzs completes bios with; @which is src/sys/blk.rs' Status. */
u8 rzs_blk_sts(int which)
{
	switch (which) {
	case 0: return (__force u8)BLK_STS_OK;
	case 1: return (__force u8)BLK_STS_NOTSUPP;
	case 2: return (__force u8)BLK_STS_NOSPC;
	case 3: return (__force u8)BLK_STS_RESOURCE;
	default: return (__force u8)BLK_STS_IOERR;
	}
}

/* --- zsmalloc (include/linux/zsmalloc.h is not in 6.12's bindings_helper.h) */

struct zs_pool *rzs_zs_create_pool(const char *name)
{
	return zs_create_pool(name);
}

void rzs_zs_destroy_pool(struct zs_pool *pool)
{
	zs_destroy_pool(pool);
}

/*
 * Called directly: the Rust declarations in src/sys/ffi.rs (`extern "C"` block
 * "called directly") are these types; each assertion fails the build if the
 * kernel's prototype differs. zs_malloc() returns an IS_ERR_VALUE() handle on
 * failure (the Rust side tests for it, with MAX_ERRNO mirrored below); the map
 * mode is an enum passed as a C int, with the values mirrored below.
 */
static_assert(__same_type(&zs_malloc, unsigned long (*)(struct zs_pool *, size_t, gfp_t)));
static_assert(__same_type(&zs_free, void (*)(struct zs_pool *, unsigned long)));
static_assert(__same_type(&zs_map_object, void *(*)(struct zs_pool *, unsigned long, enum zs_mapmode)));
static_assert(__same_type(&zs_unmap_object, void (*)(struct zs_pool *, unsigned long)));
static_assert(__same_type(&zs_get_total_pages, unsigned long (*)(struct zs_pool *)));
static_assert(sizeof(enum zs_mapmode) == sizeof(int));
static_assert(ZS_MM_RO == 1 && ZS_MM_WO == 2);
static_assert(MAX_ERRNO == 4095);

/* May sleep: takes the pool's locks and reschedules between size classes. */
unsigned long rzs_zs_compact(struct zs_pool *pool)
{
	return zs_compact(pool);
}

unsigned long rzs_totalram_pages(void)
{
	return totalram_pages();
}

size_t rzs_zs_huge_class_size(struct zs_pool *pool)
{
	return zs_huge_class_size(pool);
}

/*
 * Objects, on the I/O path: may sleep (direct reclaim), must not recurse into
 * I/O; movable and highmem as zram allocates them.
 */
gfp_t rzs_gfp_noio_obj(void)
{
	return GFP_NOIO | __GFP_NOWARN | __GFP_HIGHMEM | __GFP_MOVABLE;
}

/* --- the backing device (tiering) */

/*
 * Opens the block device at @path for reading and writing, exclusively with
 * @holder (nobody can mount it or open it exclusively meanwhile, nor make it
 * another device's backing device). An ERR_PTR on failure.
 */
struct file *rzs_backing_open(const char *path, void *holder)
{
	return bdev_file_open_by_path(path, BLK_OPEN_READ | BLK_OPEN_WRITE, holder, NULL);
}

void rzs_backing_close(struct file *file)
{
	bdev_fput(file);
}

u64 rzs_backing_bytes(struct file *file)
{
	return bdev_nr_bytes(file_bdev(file));
}

/*
 * The queue that backing-device bios go through when submitted inside a
 * ->submit_bio. WQ_MEM_RECLAIM: those bios come from swap writeout under memory
 * pressure (reclaim flushes them), so the queue has a rescuer and never waits for
 * a worker to be created.
 */
static struct workqueue_struct *rzs_io_wq;

int rzs_io_wq_create(void)
{
	rzs_io_wq = alloc_workqueue("rzs_io", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	return rzs_io_wq ? 0 : -ENOMEM;
}

void rzs_io_wq_destroy(void)
{
	destroy_workqueue(rzs_io_wq);
	rzs_io_wq = NULL;
}

struct rzs_bio_work {
	struct work_struct work;
	struct bio *bio;
	int ret;
};

static void rzs_bio_work_fn(struct work_struct *work)
{
	struct rzs_bio_work *bw = container_of(work, struct rzs_bio_work, work);

	bw->ret = submit_bio_wait(bw->bio);
}

/*
 * Reads or writes @nr (1..BIO_MAX_VECS) whole pages at @sector of the backing
 * device and waits for the I/O. Inside a ->submit_bio (current->bio_list set) a
 * bio submitted here would only start after we return, so it is submitted from
 * a worker of rzs_io_wq, as zram's read_from_bdev_sync does. May sleep.
 */
int rzs_backing_rw(struct file *file, u64 sector, struct page **pages, unsigned int nr, bool write)
{
	struct bio *bio;
	unsigned int i;
	int ret;

	if (nr == 0 || nr > BIO_MAX_VECS)
		return -EINVAL;
	/* GFP_NOIO from the bio_set's mempool: never fails. */
	bio = bio_alloc(file_bdev(file), nr, write ? REQ_OP_WRITE | REQ_SYNC : REQ_OP_READ, GFP_NOIO);
	bio->bi_iter.bi_sector = sector;
	for (i = 0; i < nr; i++)
		__bio_add_page(bio, pages[i], PAGE_SIZE, 0);
	if (current->bio_list) {
		struct rzs_bio_work bw = { .bio = bio };

		INIT_WORK_ONSTACK(&bw.work, rzs_bio_work_fn);
		queue_work(rzs_io_wq, &bw.work);
		flush_work(&bw.work);
		destroy_work_on_stack(&bw.work);
		ret = bw.ret;
	} else {
		ret = submit_bio_wait(bio);
	}
	bio_put(bio);
	return ret;
}

/* --- a device's periodic job (src/sys/ticker.rs) */

void rzs_dwork_init(struct delayed_work *dw, work_func_t fn)
{
	INIT_DELAYED_WORK(dw, fn);
}

/* Runs @dw in @ms milliseconds on the unbound workqueue, pending or not. */
void rzs_dwork_mod(struct delayed_work *dw, unsigned int ms)
{
	mod_delayed_work(system_unbound_wq, dw, msecs_to_jiffies(ms));
}

void rzs_dwork_cancel_sync(struct delayed_work *dw)
{
	cancel_delayed_work_sync(dw);
}

/* --- the swap event API (scripts/patches/0001), when the kernel has it */
#ifdef RZS_SWAP_EVENTS
int rzs_swap_events_register(struct notifier_block *nb, int event);
int rzs_swap_events_unregister(struct notifier_block *nb, int event);
int rzs_slot_free_register(struct notifier_block *nb, struct block_device *bdev);
int rzs_slot_free_unregister(struct notifier_block *nb, struct block_device *bdev);
struct block_device *rzs_swap_event_bdev(const void *info);
unsigned long rzs_swap_event_pages(const void *info);

/* @event: 0 SWAPON, 1 SWAPOFF (src/sys/swap.rs' Event). */
int rzs_swap_events_register(struct notifier_block *nb, int event)
{
	return register_swap_event_notifier(nb, event ? SWAP_EVENT_SWAPOFF : SWAP_EVENT_SWAPON, NULL);
}

int rzs_swap_events_unregister(struct notifier_block *nb, int event)
{
	return unregister_swap_event_notifier(nb, event ? SWAP_EVENT_SWAPOFF : SWAP_EVENT_SWAPON, NULL);
}

int rzs_slot_free_register(struct notifier_block *nb, struct block_device *bdev)
{
	return register_swap_event_notifier(nb, SWAP_EVENT_SLOT_FREE, bdev);
}

int rzs_slot_free_unregister(struct notifier_block *nb, struct block_device *bdev)
{
	return unregister_swap_event_notifier(nb, SWAP_EVENT_SLOT_FREE, bdev);
}

struct block_device *rzs_swap_event_bdev(const void *info)
{
	return ((const struct swap_event_info *)info)->bdev;
}

unsigned long rzs_swap_event_pages(const void *info)
{
	return ((const struct swap_event_info *)info)->pages;
}
#endif
