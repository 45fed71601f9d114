//! A stream's write queue: write requests, each a list of buffers, flushed in order with one
//! `writev` (or `sendmsg`, so that a closed peer is `EPIPE` and never `SIGPIPE`) over as many
//! buffers as the kernel takes, as libuv's `uv__write` does.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;

/// The buffers of one write. Owned bytes (`Vec<u8>`, `Vec<Vec<u8>>`) implement it; a host that
/// lends memory until the write's callback (the C API's `pl_buf` arrays) implements it over
/// its own pointers.
pub trait WriteBufs: Send {
    /// How many buffers there are.
    fn count(&self) -> usize;
    /// Buffer `index` (`index < count()`); it must not change until the write completes.
    fn get(&self, index: usize) -> &[u8];

    /// The buffers as a box, for a queue (a box already is one, not boxed again).
    fn into_boxed(self) -> Box<dyn WriteBufs>
    where
        Self: Sized + 'static,
    {
        Box::new(self)
    }
}

impl WriteBufs for Box<dyn WriteBufs> {
    fn count(&self) -> usize {
        (**self).count()
    }
    fn get(&self, index: usize) -> &[u8] {
        (**self).get(index)
    }
    fn into_boxed(self) -> Box<dyn WriteBufs> {
        self
    }
}

impl WriteBufs for Vec<u8> {
    fn count(&self) -> usize {
        1
    }
    fn get(&self, _index: usize) -> &[u8] {
        self
    }
}

impl WriteBufs for Vec<Vec<u8>> {
    fn count(&self) -> usize {
        self.len()
    }
    fn get(&self, index: usize) -> &[u8] {
        &self[index]
    }
}

impl WriteBufs for &'static [u8] {
    fn count(&self) -> usize {
        1
    }
    fn get(&self, _index: usize) -> &[u8] {
        self
    }
}

/// The number of bytes in `bufs`.
pub(crate) fn total_len(bufs: &dyn WriteBufs) -> usize {
    (0..bufs.count()).map(|i| bufs.get(i).len()).sum()
}

/// One queued write.
pub(crate) struct WriteReq<C> {
    bufs: Box<dyn WriteBufs>,
    /// The buffer being written and how much of it is written.
    index: usize,
    offset: usize,
    /// Bytes not yet written.
    left: usize,
    pub(crate) cb: Option<C>,
}

/// A finished write: its callback and how it ended.
pub(crate) struct Finished<C> {
    pub(crate) cb: Option<C>,
    pub(crate) result: io::Result<()>,
}

/// The writes of one stream, in the order they were made.
pub(crate) struct WriteQueue<C> {
    queue: VecDeque<WriteReq<C>>,
    /// Bytes queued and not yet written (libuv's `write_queue_size`).
    pub(crate) size: usize,
}

/// The most buffers one system call is given (Linux's `IOV_MAX` is 1024).
const MAX_IOVECS: usize = 128;

impl<C> WriteQueue<C> {
    pub(crate) fn new() -> Self {
        WriteQueue {
            queue: VecDeque::new(),
            size: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn push(&mut self, bufs: Box<dyn WriteBufs>, cb: Option<C>) {
        let left = total_len(bufs.as_ref());
        self.size += left;
        let mut req = WriteReq {
            bufs,
            index: 0,
            offset: 0,
            left,
            cb,
        };
        req.skip_empty();
        self.queue.push_back(req);
    }

    /// Writes as much as the kernel takes. Finished writes are appended to `done` in order;
    /// a write that failed ends the flush (the ones after it stay queued, as in libuv).
    /// Returns the number of bytes written; `WouldBlock` is not an error.
    pub(crate) fn flush(&mut self, fd: RawFd, socket: bool, done: &mut Vec<Finished<C>>) -> usize {
        let mut written_total = 0;
        loop {
            // Finished requests (all bytes written, or empty from the start) complete first.
            while self.queue.front().is_some_and(|r| r.left == 0) {
                let req = self.queue.pop_front().expect("front exists");
                done.push(Finished {
                    cb: req.cb,
                    result: Ok(()),
                });
            }
            if self.queue.is_empty() {
                return written_total;
            }
            let mut iov: [libc::iovec; MAX_IOVECS] = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; MAX_IOVECS];
            let mut count = 0;
            'gather: for req in &self.queue {
                for index in req.index..req.bufs.count() {
                    let buf = req.bufs.get(index);
                    let buf = if index == req.index {
                        &buf[req.offset..]
                    } else {
                        buf
                    };
                    if buf.is_empty() {
                        continue;
                    }
                    iov[count] = libc::iovec {
                        iov_base: buf.as_ptr() as *mut libc::c_void,
                        iov_len: buf.len(),
                    };
                    count += 1;
                    if count == MAX_IOVECS {
                        break 'gather;
                    }
                }
            }
            match write_vectored(fd, socket, &iov[..count]) {
                Ok(n) => {
                    written_total += n;
                    self.advance(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return written_total,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    let req = self.queue.pop_front().expect("front exists");
                    self.size -= req.left;
                    done.push(Finished {
                        cb: req.cb,
                        result: Err(err),
                    });
                    return written_total;
                }
            }
        }
    }

    /// Marks `n` bytes from the front as written.
    fn advance(&mut self, mut n: usize) {
        self.size -= n;
        for req in self.queue.iter_mut() {
            if n == 0 {
                break;
            }
            let take = n.min(req.left);
            req.consume(take);
            n -= take;
        }
    }

    /// Every queued write, unwritten (for a close: each completes with `ECANCELED`).
    pub(crate) fn take_all(&mut self) -> Vec<Option<C>> {
        self.size = 0;
        self.queue.drain(..).map(|r| r.cb).collect()
    }

    /// Visits the queued callbacks (for a host garbage collector).
    pub(crate) fn callbacks(&self) -> impl Iterator<Item = &C> {
        self.queue.iter().filter_map(|r| r.cb.as_ref())
    }
}

impl<C> WriteReq<C> {
    fn consume(&mut self, mut n: usize) {
        self.left -= n;
        while n > 0 {
            let len = self.bufs.get(self.index).len() - self.offset;
            if n < len {
                self.offset += n;
                return;
            }
            n -= len;
            self.index += 1;
            self.offset = 0;
        }
        self.skip_empty();
    }

    fn skip_empty(&mut self) {
        while self.index < self.bufs.count() && self.bufs.get(self.index).len() == self.offset {
            self.index += 1;
            self.offset = 0;
        }
    }
}

/// `writev` for a pipe, `sendmsg(MSG_NOSIGNAL)` for a socket.
pub(crate) fn write_vectored(fd: RawFd, socket: bool, iov: &[libc::iovec]) -> io::Result<usize> {
    let n = if socket {
        // SAFETY: a zeroed msghdr is valid; it points at `iov`, which outlives the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iov.len() as _;
        // SAFETY: fd is the stream's own open fd; msg is valid for the call.
        unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) }
    } else {
        // SAFETY: iov points at buffers that live until the call returns.
        unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as libc::c_int) }
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_flush_writes_every_request_in_order_across_buffers() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut queue: WriteQueue<u32> = WriteQueue::new();
        queue.push(Box::new(b"ab".to_vec()), Some(1));
        queue.push(
            Box::new(vec![b"".to_vec(), b"cd".to_vec(), b"e".to_vec()]),
            Some(2),
        );
        queue.push(Box::new(Vec::<u8>::new()), Some(3));
        assert_eq!(queue.size, 5);
        let mut done = Vec::new();
        assert_eq!(queue.flush(a.as_raw_fd(), true, &mut done), 5);
        let order: Vec<u32> = done.iter().map(|f| f.cb.unwrap()).collect();
        assert_eq!(order, [1, 2, 3]);
        assert!(queue.is_empty() && queue.size == 0);
        let mut got = [0u8; 5];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcde");
    }

    #[test]
    fn a_partial_write_keeps_the_rest_queued() {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut queue: WriteQueue<u32> = WriteQueue::new();
        queue.push(Box::new(vec![7u8; 8 * 1024 * 1024]), Some(1));
        let mut done = Vec::new();
        let n = queue.flush(a.as_raw_fd(), true, &mut done);
        assert!(n > 0 && n < 8 * 1024 * 1024, "wrote {n}");
        assert!(done.is_empty());
        assert_eq!(queue.size, 8 * 1024 * 1024 - n);
        drop(b);
        let _ = queue.flush(a.as_raw_fd(), true, &mut done);
        assert_eq!(done.len(), 1);
        let err = done[0].result.as_ref().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
        assert_eq!(queue.size, 0);
    }
}
