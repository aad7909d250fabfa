//! Step 6's two directions at once: the request body and the response.

use super::*;

/// Runs the request-body relay and the response relay together until the
/// response side ends. A failure on the client side of the request body ends
/// the exchange at once (`None`); a server that stops reading the body does
/// not, since its answer may explain why.
pub(super) async fn duplex(
    mut request: Pin<&mut impl Future<Output = Result<u64, RelayFail>>>,
    mut response: Pin<&mut impl Future<Output = Result<ResponseEnd, ResponseFail>>>,
    request_done: bool,
) -> (
    Result<u64, RelayFail>,
    Option<Result<ResponseEnd, ResponseFail>>,
) {
    // Until the request side ends, `state` says it is still running.
    let mut running = !request_done;
    let mut state: Result<u64, RelayFail> = Ok(0);
    loop {
        monoio::select! {
            // Fixed order: no random number drawn per poll.
            biased;
            r = &mut request, if running => {
                running = false;
                match r {
                    Ok(n) => state = Ok(n),
                    Err(RelayFail::Sink(e)) => state = Err(RelayFail::Sink(e)),
                    Err(e) => return (Err(e), None),
                }
            }
            r = &mut response => {
                if running {
                    // The server answered before the body was through.
                    state = Err(RelayFail::Source(ReadOutcome::Eof));
                }
                return (state, Some(r));
            }
        }
    }
}
