//! A bare hyper 1.x HTTP/1.1 server answering "hello": the ceiling against which the benchmark
//! harness (bench/run.py) measures Madang's authenticated GET throughput, under the same load.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(about = "Bare hyper server answering \"hello\" (benchmark ceiling)")]
struct Args {
    /// Address to listen on; loopback only by intent.
    #[arg(long, default_value = "127.0.0.1:8099")]
    listen: SocketAddr,
}

async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    // The harness waits for this line (or for the port) before loading the server.
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        // Madang sets TCP_NODELAY too; without it small responses wait for Nagle's timer.
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(hello)).await;
        });
    }
}
