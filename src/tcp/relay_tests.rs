//! Unit tests of `relay.rs`.

use super::*;

#[test]
fn a_reads_deadline_moves_to_its_fin_timeout_once_the_other_side_half_closed() {
    let (cause, ended, half) = (Cell::new(0), Cell::new(false), Cell::new(None));
    let ms = Duration::from_millis;
    let ends = |reader, fin| Ends {
        reader,
        writer: if reader == b'C' { b'S' } else { b'C' },
        cause: &cause,
        ended: &ended,
        half: &half,
        fin,
    };
    let (client, server) = (ends(b'C', Some(ms(300))), ends(b'S', None));
    let t0 = Instant::now();
    let last = Cell::new(t0);
    assert_eq!(client.read_deadline(&last, ms(10_000)), t0 + ms(10_000));
    // The server half-closes first: the client's reads wait client-fin
    // from then (or from later activity); the server's own never change.
    assert!(server.half_closed());
    let (_, at) = half.get().unwrap();
    assert_eq!(client.read_deadline(&last, ms(10_000)), at + ms(300));
    last.set(at + ms(50));
    assert_eq!(client.read_deadline(&last, ms(10_000)), at + ms(350));
    assert_eq!(server.read_deadline(&last, ms(10_000)), at + ms(10_050));
    // The second direction to end shuts nothing more.
    assert!(!client.half_closed());
    assert_eq!(half.get().unwrap().0, b'S');
}
